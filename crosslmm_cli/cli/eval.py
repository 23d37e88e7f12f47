"""`crosslmm eval`: accuracy on multiple-choice and open questions about videos, per task."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from crosslmm_cli.checkpoints.devices import set_threads
from crosslmm_cli.cli.options import Device, Quantize, Quiet, Threads, checkpoint_for, placement
from crosslmm_cli.cli.reporting import fail, reported_errors
from crosslmm_cli.cli.terminal import make_console
from crosslmm_cli.cli.training_options import DATA, MODEL, OUTPUT, check_data_path, print_json, warn
from crosslmm_cli.engine.options import DEFAULT_FRAMES, DEFAULT_MAX_FRAMES, FrameOptions

FRAMES = "Frames"


def summary_table(summary: Any) -> Any:
    """A rich table: one row per task, then the total."""
    from rich.table import Table

    table = Table(title="accuracy", title_justify="left")
    table.add_column("task")
    table.add_column("n", justify="right")
    table.add_column("correct", justify="right")
    table.add_column("accuracy", justify="right")
    for task, score in sorted(summary.tasks.items()):
        table.add_row(task, str(score.n), str(score.correct), f"{100 * score.accuracy:.1f}%")
    table.add_section()
    table.add_row("all", str(summary.overall.n), str(summary.overall.correct), f"{100 * summary.overall.accuracy:.1f}%")
    return table


def eval_command(
    data: Annotated[Path, typer.Option("--data", help="Eval items (JSONL): question, options + answer letter, "
                                       "or answer + match.", rich_help_panel=DATA)],
    model: Annotated[str, typer.Option("--model", "-m", help="CrossLMM model: preset name, checkpoint directory or hub id.",
                                       rich_help_panel=MODEL)],
    frames: Annotated[Optional[int], typer.Option("--frames", "-n", min=1, help="Frames sampled evenly "
                                                  f"(default {DEFAULT_FRAMES} unless --fps).", rich_help_panel=FRAMES)] = None,
    fps: Annotated[Optional[float], typer.Option("--fps", help="Sample this many frames per second instead.",
                                                 rich_help_panel=FRAMES)] = None,
    max_frames: Annotated[Optional[int], typer.Option("--max-frames", min=1, help="Upper bound on frames with --fps "
                                                      f"(default {DEFAULT_MAX_FRAMES}).", rich_help_panel=FRAMES)] = None,
    tokens_per_frame: Annotated[Optional[int], typer.Option("--tokens-per-frame", min=1, help="Visual tokens per frame "
                                                            "(default: the model's).", rich_help_panel=MODEL)] = None,
    quantize: Quantize = None,
    device: Device = None,
    threads: Threads = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Questions about one video answered together.",
                                            rich_help_panel=MODEL)] = 8,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, rich_help_panel=MODEL)] = 32,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="Only the first N items.",
                                                 rich_help_panel=DATA)] = None,
    jsonl: Annotated[Optional[Path], typer.Option("--jsonl", help="Write every prediction to this JSONL file.",
                                                  rich_help_panel=OUTPUT)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object (accuracy, n, tasks) on stdout.",
                                              rich_help_panel=OUTPUT)] = False,
    quiet: Quiet = False,
) -> None:
    """Score a model on video questions: multiple choice (answer letter) and open answers."""
    with reported_errors():
        quantize, device = placement(quantize, device)
        check_data_path(data)
        from crosslmm_cli.checkpoints.loader import load_model
        from crosslmm_cli.training.evaluate import group_by_video, read_eval_items, run_eval, summarise
        from crosslmm_cli.training.frame_cache import FrameLoader
        from crosslmm_cli.training.progress import ProgressBar

        model, own_frames = checkpoint_for(model)
        items, problems = read_eval_items(data)
        for problem in problems[:20]:
            warn(f"left out {problem}")
        items = items[:limit] if limit else items
        set_threads(threads, model, device)
        loaded, processor = load_model(model, quantize=quantize, device=device, tokens_per_frame=tokens_per_frame)
        if frames is None and fps is None:  # the checkpoint's own count (a hub download's is known only now)
            frames = processor.num_frames or own_frames
        options = FrameOptions(num_frames=frames, fps=fps, max_frames=max_frames)
        # Frames as `crosslmm ask` samples them, resized where the model is, as `crosslmm ask` resizes them.
        loader = FrameLoader(processor.image_processor, options, device=loaded.device)
        predictions = []
        try:
            out = open(jsonl, "w", encoding="utf-8") if jsonl else None  # noqa: SIM115 - closed below
        except OSError as error:
            raise fail(f"{jsonl}: cannot write ({error.strerror or error})", 1) from None
        try:
            with ProgressBar("eval", len(group_by_video(items)), enabled=not quiet) as bar:
                for prediction in run_eval(loaded, processor, items, loader, batch_size=batch_size,
                                           max_new_tokens=max_new_tokens, on_video=bar.update):
                    predictions.append(prediction)
                    if prediction.error is not None and (len(predictions) == 1 or predictions[-2].error != prediction.error):
                        warn(f"skipped {prediction.error}")
                    if out is not None:
                        out.write(json.dumps(prediction.to_record(), ensure_ascii=False) + "\n")
        finally:
            if out is not None:
                out.close()
        summary = summarise(predictions)
    if not quiet:
        make_console(stderr=True).print(summary_table(summary))
        if summary.failed:
            typer.echo(f"{summary.failed} item(s) left out: their video could not be read", err=True)
    elif not json_output:  # --quiet leaves the result itself: the accuracy, on stdout
        overall = summary.overall
        typer.echo(f"accuracy {100 * overall.accuracy:.1f}% ({overall.correct} of {overall.n})")
    if json_output:
        print_json({**summary.to_json(), "model": model, "data": str(data),
                    "frames": loader.sampling.num_frames, "fps": loader.sampling.fps,
                    "tokens_per_frame": processor.tokens_per_frame})


def register(app: typer.Typer) -> None:
    app.command("eval", no_args_is_help=True)(eval_command)
