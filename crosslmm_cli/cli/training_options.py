"""What `train`, `distill`, `eval` and `init` share: error reporting, CPU threads, JSON output.

Errors meant for the user print one line (`error: ...`, then `hint: ...`) and exit with a code:
1 bad data or options that cannot work together, 2 bad flag values, 3 a model that cannot be
loaded, 130 interrupted. Nothing here imports torch at module level.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from crosslmm_cli.errors import CrossLMMError, ModelLoadError

TRAINING, DATA, MODEL, OUTPUT = "Training", "Data", "Model", "Output"

#: Below this LLM width a CPU runs the model fastest on one thread: OpenMP's per-op sync costs more
#: than the matmuls, and far more when other processes share the cores (crosslmm_cli/bench/training_step.py).
SMALL_MODEL_WIDTH = 512


def fail(message: str, code: int, hint: str | None = None) -> typer.Exit:
    """One line on stderr, in the same `error: ... (hint: ...)` form as every other command."""
    typer.echo(f"error: {message}" + (f" (hint: {hint})" if hint else ""), err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def reported_errors(resume_hint: str | None = None) -> Iterator[None]:
    """Turn the library's typed errors into one line on stderr and an exit code."""
    try:
        yield
    except ModelLoadError as error:
        raise fail(str(error), 3, error.hint) from None
    except CrossLMMError as error:
        raise fail(str(error), 1, error.hint) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130, resume_hint) from None


@contextlib.contextmanager
def usage_errors() -> Iterator[None]:
    """Around building settings from flags: their ValueErrors name a bad flag value (exit 2)."""
    try:
        yield
    except ValueError as error:
        raise fail(str(error).splitlines()[0], 2) from None


def check_device(device: str) -> None:
    if device not in ("auto", "cpu", "cuda") and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise fail(f"--device must be auto, cpu, cuda or cuda:N, got {device!r}", 2)


def model_width(model: str) -> int | None:
    """The LLM's hidden size from a local checkpoint's config.json (None when not readable)."""
    try:
        config = json.loads((Path(model) / "config.json").read_text(encoding="utf-8"))
        return int(config["text_config"]["hidden_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def set_threads(threads: int | None, model: str, device: str) -> None:
    """`--threads`, or 1 for a small model on CPU; otherwise torch's own choice.

    Also silences transformers' per-file progress bars (loading, saving): the command draws its own.
    """
    import torch
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    if threads is not None:
        if threads < 1:
            raise fail(f"--threads must be >= 1, got {threads}", 2)
        torch.set_num_threads(threads)
        return
    on_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
    width = model_width(model)
    if on_cpu and width is not None and width < SMALL_MODEL_WIDTH:
        torch.set_num_threads(1)


def print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, sort_keys=False) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)
