"""`crosslmm batch DIR|- --task ... --output results.jsonl`: many videos, resumable.

`run_task_batch` is also what `describe` uses: `tasks.run_task_over_videos`, the same engine for
one video or ten thousand, with the terminal attached.
"""

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from crosslmm_cli.cli.common import Session, videos_named, with_run_options
from crosslmm_cli.cli.ray_engine import with_engine_options
from crosslmm_cli.distributed.resources import RayOptions
from crosslmm_cli.engine.options import RunOptions
from crosslmm_cli.errors import UsageError

CHAPTERS = "Chapters"

MinLength = Annotated[float, typer.Option("--min-length", min=0.0, rich_help_panel=CHAPTERS,
                                          help="Shortest chapter, in seconds.")]
MaxLength = Annotated[Optional[float], typer.Option("--max-length", rich_help_panel=CHAPTERS,
                                                    help="Longest chapter, in seconds (longer ones are split).")]
MaxChapters = Annotated[int, typer.Option("--max-chapters", min=1, rich_help_panel=CHAPTERS, help="Most chapters.")]


def register(app: typer.Typer) -> None:
    app.command("batch", no_args_is_help=True)(batch)


@with_run_options
@with_engine_options
def batch(
    inputs: Annotated[list[str], typer.Argument(metavar="DIR|FILE|-...", show_default=False,
                      help="Directories (searched recursively), video files, or - to read paths from stdin.")],
    task: Annotated[str, typer.Option("--task", "-t", metavar="describe|ask|chapterize", help="What to do with each video.")] = "describe",
    question: Annotated[Optional[str], typer.Option("--question", "-q", metavar="QUESTION", help="The question, for --task ask.")] = None,
    prompt: Annotated[Optional[str], typer.Option("--prompt", help="The instruction, for --task describe.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", dir_okay=False,
                      help="Results file (JSON Lines). If it exists, inputs already done are skipped. Default: stdout.")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Also redo inputs that failed in an earlier run.")] = False,
    min_length: MinLength = 10.0,
    max_length: MaxLength = None,
    max_chapters: MaxChapters = 20,
    *,
    run: RunOptions,
    ray: Optional[RayOptions],
) -> None:
    """Run a task on many videos; one JSON record per video, appended as each finishes (resumable)."""
    from crosslmm_cli.tasks import DESCRIBE_PROMPT, TASKS
    from crosslmm_cli.tasks.chapters import ChapterOptions

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
        ray=ray,
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
    server: Optional[str] = None,
    ray: Optional[RayOptions] = None,
) -> Any:
    """`tasks.run_task_over_videos` with the terminal attached (or, with `server`, the same run answered by
    a running `crosslmm serve`: `remote.run_task_over_server`; with `ray`, on Ray Data:
    `ray_engine.run_task_on_ray_cli`); returns its summary.

    Records go to `output` (resumable), else to stdout: JSON Lines with `jsonl`, else the text
    streamed as it is generated (with a `==> path <==` header per video when there are several).
    """
    from crosslmm_cli.batch import JsonlWriter, ResultsLog
    from crosslmm_cli.cli.common import report_video
    from crosslmm_cli.cli.reporting import print_error
    from crosslmm_cli.cli.terminal import make_progress
    from crosslmm_cli.errors import error_line
    from crosslmm_cli.tasks.chapters import ChapterOptions
    from crosslmm_cli.tasks.many import ManyVideosHooks, run_task_over_videos

    run = session.run
    streaming = output is None and not jsonl
    hooks = ManyVideosHooks(
        on_video=lambda path, prepared: report_video(session, path, prepared),
        stream=_streamed(many=len(inputs) > 1) if streaming else None,
        on_stats=(lambda stats: session.detail(stats.describe())) if run.verbosity > 0 else None,
        on_error=lambda path, exc: print_error(error_line(exc, subject=path)),
        on_retry=lambda before, after: session.note(
            f"{before.path}: out of memory with {before.num_frames} frames; retrying with {after.num_frames}"),
    )
    log = ResultsLog.open(output) if output is not None else None
    runner = run_task_over_videos
    if server:
        from functools import partial

        from crosslmm_cli.cli.remote import connect, run_task_over_server

        runner = partial(run_task_over_server, connect(server), session)
    elif ray is not None:
        from functools import partial

        from crosslmm_cli.cli.ray_engine import run_task_on_ray_cli

        runner = partial(run_task_on_ray_cli, ray, session)
    try:
        summary = runner(
            inputs, task=task, prompt=prompt, frames=run.frames, generation=run.generation,
            load_pipeline=lambda frames: session.pipeline(session.load_engine(), frames),
            chapter_options=chapter_options or ChapterOptions(), log=log,
            emit=JsonlWriter(sys.stdout.buffer).append if (jsonl and output is None) else None,
            retry_failed=retry_failed, progress=None if streaming else make_progress(session.err, task, run.verbosity),
            hooks=hooks,
        )
    finally:
        if log is not None:
            log.close()
    if summary.interrupted or (run.verbosity >= 0 and (len(inputs) > 1 or output is not None)):
        session.err.print(summary.describe(), markup=False, style="dim")
    return summary


def _streamed(*, many: bool) -> Any:
    """Where one input's answer goes: streamed to stdout (a header per video when there are several)."""
    import contextlib

    from crosslmm_cli.cli.terminal import AnswerRenderer

    @contextlib.contextmanager
    def stream(path: str):
        if many:
            sys.stdout.write(f"==> {path} <==\n")
        renderer = AnswerRenderer()
        renderer.begin()
        try:
            yield renderer.write
        finally:
            renderer.end()
            if many:
                sys.stdout.write("\n")
                sys.stdout.flush()

    return stream
