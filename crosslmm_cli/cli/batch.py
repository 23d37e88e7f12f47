"""`crosslmm batch DIR|- --task ... --output results.jsonl`: many videos, resumable.

`run_task_batch` is also what `describe` uses: the same engine for one video or ten thousand.
"""

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from crosslmm_cli.cli.common import Session, videos_named, with_run_options
from crosslmm_cli.errors import UsageError
from crosslmm_cli.engine.options import RunOptions

CHAPTERS = "Chapters"

MinLength = Annotated[float, typer.Option("--min-length", min=0.0, rich_help_panel=CHAPTERS,
                                          help="Shortest chapter, in seconds.")]
MaxLength = Annotated[Optional[float], typer.Option("--max-length", rich_help_panel=CHAPTERS,
                                                    help="Longest chapter, in seconds (longer ones are split).")]
MaxChapters = Annotated[int, typer.Option("--max-chapters", min=1, rich_help_panel=CHAPTERS, help="Most chapters.")]


def register(app: typer.Typer) -> None:
    app.command("batch", no_args_is_help=True)(batch)


@with_run_options
def batch(
    inputs: Annotated[list[str], typer.Argument(metavar="DIR|FILE|-...", show_default=False,
                      help="Directories (searched recursively), video files, or - to read paths from stdin.")],
    task: Annotated[str, typer.Option("--task", "-t", metavar="describe|ask|chapterize", help="What to do with each video.")] = "describe",
    question: Annotated[Optional[str], typer.Option("--question", help="The question, for --task ask.")] = None,
    prompt: Annotated[Optional[str], typer.Option("--prompt", help="The instruction, for --task describe.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", dir_okay=False,
                      help="Results file (JSON Lines). If it exists, inputs already done are skipped. Default: stdout.")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Also redo inputs that failed in an earlier run.")] = False,
    min_length: MinLength = 10.0,
    max_length: MaxLength = None,
    max_chapters: MaxChapters = 20,
    *,
    run: RunOptions,
) -> None:
    """Run a task on many videos; one JSON record per video, appended as each finishes (resumable)."""
    from crosslmm_cli.tasks.chapters import ChapterOptions
    from crosslmm_cli.tasks import DESCRIBE_PROMPT, TASKS

    if task not in TASKS:
        raise UsageError(f"--task must be one of {', '.join(TASKS)}, not {task!r}")
    if task == "ask" and not question:
        raise UsageError("--task ask needs --question")
    if question and task != "ask":
        raise UsageError("--question is for --task ask")
    options = ChapterOptions(min_length=min_length, max_length=max_length, max_chapters=max_chapters)
    session = Session.start(run)
    summary = run_task_batch(
        session,
        videos_named(inputs, session),
        task=task,
        prompt=question if task == "ask" else (prompt or DESCRIBE_PROMPT),
        jsonl=True,
        output=output,
        retry_failed=retry_failed,
        chapter_options=options,
    )
    raise typer.Exit(summary.exit_code)


def run_task_batch(
    session: Session,
    inputs: list[str],
    *,
    task: str,
    prompt: str,
    jsonl: bool,
    output: Optional[Path],
    retry_failed: bool = False,
    chapter_options: Any = None,
) -> Any:
    """Run `task` on every input through `crosslmm_cli.batch.run_batch`; returns its summary.

    Records go to `output` (resumable), else to stdout: JSON Lines with `jsonl`, else the text
    streamed as it is generated (with a `==> path <==` header per video when there are several).
    The model is loaded only if some input is left to do.
    """
    from crosslmm_cli.batch import plan_batch, run_batch
    from crosslmm_cli.tasks.chapters import ChapterOptions
    from crosslmm_cli.cli.reporting import print_error
    from crosslmm_cli.cli.terminal import make_progress
    from crosslmm_cli.errors import error_line
    from crosslmm_cli.batch.results import JsonlWriter, ResultsLog
    from crosslmm_cli.tasks import TaskRunner, chapter_frames

    run = session.run
    question = prompt if task == "ask" else None
    streaming = output is None and not jsonl
    log = ResultsLog.open(output) if output is not None else None
    try:
        todo, _, _ = plan_batch(inputs, task=task, question=question, log=log, retry_failed=retry_failed)
        runner = None
        if todo:
            engine = session.load_engine()
            runner = TaskRunner(
                session.pipeline(engine, chapter_frames(run.frames) if task == "chapterize" else None),
                task,
                prompt,
                run.generation,
                chapter_options or ChapterOptions(),
                on_stats=(lambda stats: session.detail(stats.describe())) if run.verbosity > 0 else None,
            )
        summary = run_batch(
            inputs,
            task=task,
            question=question,
            prepare=lambda path: runner.pipeline.prepare(path),
            process=_reporting(session, _streaming(runner, many=len(inputs) > 1) if streaming else runner),
            log=log,
            emit=JsonlWriter(sys.stdout.buffer).append if (jsonl and output is None) else None,
            on_error=lambda path, exc: print_error(error_line(exc, subject=path)),
            reduce=lambda prepared: _fewer_frames(session, runner, prepared),
            retry_failed=retry_failed,
            progress=None if streaming else make_progress(session.err, task, run.verbosity),
        )
    finally:
        if log is not None:
            log.close()
    if summary.interrupted or (run.verbosity >= 0 and (len(inputs) > 1 or output is not None)):
        session.err.print(summary.describe(), markup=False, style="dim")
    return summary


def _streaming(runner: Any, *, many: bool) -> Any:
    """`process` that streams each answer to stdout (a header per video when there are several)."""
    from crosslmm_cli.cli.terminal import AnswerRenderer

    def process(path: str, prepared: Any) -> dict[str, Any]:
        if many:
            sys.stdout.write(f"==> {path} <==\n")
        renderer = AnswerRenderer()
        renderer.begin()
        try:
            return runner(path, prepared, on_text=renderer.write)
        finally:
            renderer.end()
            if many:
                sys.stdout.write("\n")
                sys.stdout.flush()

    return process


def _reporting(session: Session, process: Any) -> Any:
    """`process` that first says (with --verbose) what was sampled and where the features came from."""
    from crosslmm_cli.cli.common import report_video

    def reported(path: str, prepared: Any) -> dict[str, Any]:
        report_video(session, path, prepared)
        return process(path, prepared)

    return reported


def _fewer_frames(session: Session, runner: Any, prepared: Any) -> Any:
    """After running out of memory: free what can be freed, and try again with half the frames."""
    runner.pipeline.engine.release_memory()
    smaller = prepared.reduced()
    if smaller is not None:
        session.note(f"{prepared.path}: out of memory with {prepared.num_frames} frames; retrying with {smaller.num_frames}")
    return smaller
