"""Reading and writing the small JSON files of a checkpoint directory, with errors that name the file.

A checkpoint is a directory a user may have copied by hand, half downloaded or edited; every
problem with one of its files must reach the user as one line that names the file and the cause
(`CheckpointFileError`), which the CLI prints as ``error: <message>``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from crosslmm_cli.errors import CheckpointError


class CheckpointFileError(CheckpointError, ValueError):
    """A checkpoint file is missing, unreadable or holds invalid values; `str()` names the file."""

    def __init__(self, path: str | Path, cause: str) -> None:
        self.path = Path(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


def require_directory(path: str | Path) -> Path:
    """Return `path` as a Path, or raise `CheckpointFileError` if it is not an existing directory."""
    directory = Path(path)
    if not directory.exists():
        raise CheckpointFileError(directory, "no such directory")
    if not directory.is_dir():
        raise CheckpointFileError(directory, "not a directory (expected a checkpoint directory)")
    return directory


def read_json_object(path: str | Path) -> dict[str, Any]:
    """Parse a JSON file that must hold one object. Never evaluates anything but JSON."""
    file = Path(path)
    if not file.is_file():
        raise CheckpointFileError(file, "file is missing")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointFileError(file, f"cannot be read ({err.__class__.__name__}: {err})") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CheckpointFileError(file, f"not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from err
    if not isinstance(data, dict):
        raise CheckpointFileError(file, f"expected a JSON object, found {type(data).__name__}")
    return data


def write_json_object(path: str | Path, data: dict[str, Any]) -> Path:
    """Write `data` as indented, key-sorted JSON (stable diffs between saves); returns the path."""
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    return file


def is_finite_number(value: Any) -> bool:
    """True for int/float values that are finite (JSON booleans are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
