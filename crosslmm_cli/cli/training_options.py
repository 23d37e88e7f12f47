"""What `train`, `distill`, `eval` and `init` share: help panels and their JSON and warning output.

Errors go through `crosslmm_cli.cli.reporting` as every command's do; devices and CPU threads
follow `crosslmm_cli.checkpoints.devices`. Nothing here imports torch at module level.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

TRAINING, DATA, MODEL, OUTPUT = "Training", "Data", "Model", "Output"


def print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, sort_keys=False) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)
