"""What a run tells as it goes: a progress bar with loss and ETA on stderr, metrics as JSONL.

The bar redraws from rich's own thread (a few times a second), so updating it every step costs
a dictionary write, nothing that shows next to a tiny model's step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any


class MetricsLog:
    """Appends one JSON object per call to `path` (line-buffered: a crash loses at most a line)."""

    def __init__(self, path: Path | None) -> None:
        self._file: IO[str] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close()

    def write(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class ProgressBar:
    """A rich progress bar on stderr (`enabled=False`: silent)."""

    def __init__(self, description: str, total: int, *, completed: int = 0, enabled: bool = True) -> None:
        self._progress = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False, refresh_per_second=4,
        )
        self._task = self._progress.add_task(description, total=total, completed=completed, status="")
        self._progress.start()

    def update(self, completed: int, status: str = "") -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, status=status)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
