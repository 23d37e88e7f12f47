"""`crosslmm synth`: write synthetic clips with train/eval/chapter files (crosslmm_cli.synthetic).

The library is imported inside the command, so registering it costs nothing at start-up.
"""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path

import typer

from crosslmm_cli.cli.reporting import fail


class SplitChoice(str, Enum):
    train = "train"
    eval = "eval"
    both = "both"


def synth(
    out: Path = typer.Option(..., "--out", help="Directory to write into (created; files of the same names are replaced)."),
    n: int = typer.Option(..., "--n", min=1, help="Clips per split."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed: the same seed writes the same dataset."),
    split: SplitChoice = typer.Option(SplitChoice.both, "--split", help="Which split(s) to write, each in its own folder."),
    n_novel: int | None = typer.Option(
        None, "--n-novel", min=0, help="Eval clips showing held-out colour-shape pairs (default: a quarter of --n)."
    ),
    frame_size: int = typer.Option(128, "--frame-size", help="Frame width and height in pixels (a multiple of 16)."),
    fps: int = typer.Option(8, "--fps", min=1, help="Frames per second of the clips."),
    multi_scene: float = typer.Option(0.2, "--multi-scene", min=0.0, max=1.0, help="Fraction of multi-scene clips (chapters)."),
    choice_fraction: float = typer.Option(
        0.5, "--choice-fraction", min=0.0, max=1.0, help="Fraction of train questions posed as multiple choice."
    ),
    turns: int = typer.Option(1, "--turns", min=1, help="Question-answer turns per train conversation."),
    open_questions: bool = typer.Option(
        False, "--open-questions", help="Also write every eval question as an open question (exact match)."
    ),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Clips written in parallel (default: CPU count, at most 8)."),
) -> None:
    """Write a synthetic video dataset: clips of moving shapes with captions, questions and chapters."""
    from crosslmm_cli.synthetic import SamplingError, VideoWriteError, WorldConfig, write_dataset

    started = time.perf_counter()
    try:
        config = WorldConfig(frame_size=frame_size, fps=fps, multi_scene_fraction=multi_scene)
        written = write_dataset(
            out,
            n,
            seed,
            split.value,
            config,
            n_novel=n_novel,
            choice_fraction=choice_fraction,
            turns=turns,
            open_questions=open_questions,
            workers=workers,
        )
    except (ValueError, SamplingError, VideoWriteError) as err:
        raise fail(str(err), 2 if isinstance(err, ValueError) else 1) from None
    except OSError as err:
        raise fail(f"{err.filename or out}: {err.strerror or err}", 1) from None
    for files in written.values():
        kind = "conversations" if files.split == "train" else "questions"
        typer.echo(
            f"{files.split}: {files.n_clips} clips ({files.n_chapter_clips} with chapters), "
            f"{files.n_records} {kind} -> {files.questions}"
        )
        if files.novel_questions is not None:
            typer.echo(
                f"{files.split} (novel colour-shape pairs): {files.n_novel_clips} clips, "
                f"{files.n_novel_records} questions -> {files.novel_questions}"
            )
    total = sum(f.n_clips + f.n_novel_clips for f in written.values())
    typer.echo(
        f"wrote {total} clips ({frame_size}x{frame_size}, {fps} fps) in {time.perf_counter() - started:.1f} s",
        err=True,
    )


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
