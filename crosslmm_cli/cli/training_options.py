"""What `train`, `distill`, `eval` and `init` share: help panels and their JSON and warning output.

Errors go through `crosslmm_cli.cli.reporting` as every command's do; devices and CPU threads
follow `crosslmm_cli.checkpoints.devices`. Nothing here imports torch at module level.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from crosslmm_cli.cli.options import MODEL, OUTPUT  # noqa: F401 - the panels the training commands share

TRAINING, DATA = "Training", "Data"


def print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, sort_keys=False) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def check_data_path(path: Path, *, folder: bool = False) -> None:
    """Before torch is imported and the model loads: a missing --data file (or --videos folder)
    fails at once, with the same line the data readers print."""
    from crosslmm_cli.errors import InputError

    if folder:
        if not path.is_dir():
            raise InputError(f"{path}: not a folder of videos")
    elif not path.exists():
        raise InputError(f"{path}: no such file")
    elif path.is_dir():
        raise InputError(f"{path}: is a directory, not a data file")
