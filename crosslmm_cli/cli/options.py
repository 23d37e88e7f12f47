"""The flags several commands share, each defined once: its names, values, help and default.

A flag means the same in every command that has it: `-q` is `--question` wherever it exists and
`--quiet` has no short name; `--quantize` takes auto|4bit|8bit|none and `--device`
auto|cpu|cuda|cuda:N everywhere, and both fall back to the settings file, then to auto
(`placement`). The commands' own defaults (where one differs) stay in their signatures.
Nothing here imports torch.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from crosslmm_cli.checkpoints.devices import check_device, check_quantize
from crosslmm_cli.checkpoints.settings import load_settings

MODEL, FRAMES, GENERATION, OUTPUT = "Model", "Frames", "Generation", "Output"

Quantize = Annotated[Optional[str], typer.Option(
    "--quantize", metavar="auto|4bit|8bit|none", rich_help_panel=MODEL, show_default=False,
    help="Weight quantization; auto: 4bit on CUDA, none elsewhere (default: the settings file's, else auto).")]
Device = Annotated[Optional[str], typer.Option(
    "--device", metavar="auto|cpu|cuda|cuda:N", rich_help_panel=MODEL, show_default=False,
    help="Where to run; auto: a GPU when there is one (default: the settings file's, else auto).")]
Threads = Annotated[Optional[int], typer.Option(
    "--threads", min=1, metavar="N", rich_help_panel=MODEL, show_default=False,
    help="CPU threads for torch (default: 1 for a small model on a CPU, else torch's choice).")]
Quiet = Annotated[bool, typer.Option(
    "--quiet", rich_help_panel=OUTPUT, help="Print only results: no notes, no progress bars.")]


def checkpoint_for(ref: str) -> tuple[str, int]:
    """(location, default frames) of a `--model` value: a preset name, a checkpoint directory or a
    hub id, resolved as `crosslmm ask` resolves it, so every command accepts all three alike."""
    from crosslmm_cli.checkpoints.settings import ModelChoice
    from crosslmm_cli.checkpoints.store import resolve_model
    from crosslmm_cli.engine.loading import default_frames_of

    resolved = resolve_model(ModelChoice(ref, "flag"))
    return resolved.location, default_frames_of(resolved)


def placement(quantize: str | None, device: str | None) -> tuple[str, str]:
    """(--quantize, --device) as given, else the settings file's, else auto; a bad value is a
    UsageError (exit 2) naming the flag."""
    settings = load_settings()
    return check_quantize(quantize or settings.quantize or "auto"), check_device(device or settings.device or "auto")
