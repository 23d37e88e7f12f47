"""Terminal output: the two consoles, streamed answers on stdout, a progress bar on stderr.

On a terminal, answers render as Markdown while they stream (rich Live); anywhere else (a pipe,
a file, a test) they are written as plain text chunk by chunk and flushed, so `| tee` and
`| head` see text as soon as it is generated. The progress bar appears only when stderr is a
terminal and --quiet is off.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live


def stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


class AnswerRenderer:
    """Receives text chunks (`write`) between `begin()` and `end()`; one instance per answer."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or stdout_console()
        self.rich = self.console.is_terminal
        self.text = ""
        self._live: Live | None = None

    def begin(self) -> None:
        self.text = ""
        if self.rich:
            from rich.live import Live

            self._live = Live(console=self.console, refresh_per_second=12, vertical_overflow="visible")
            self._live.start()

    def write(self, chunk: str) -> None:
        self.text += chunk
        if self._live is not None:
            from rich.markdown import Markdown

            self._live.update(Markdown(self.text))
        else:
            stream = self.console.file
            stream.write(chunk)
            stream.flush()

    def end(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        elif not self.text.endswith("\n"):
            self.console.file.write("\n")
            self.console.file.flush()


class RichBatchProgress:
    """`BatchProgress` as a rich progress bar with ETA on stderr."""

    def __init__(self, console: Console, label: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[current]}", style="dim"),
            console=console,
            transient=False,
        )
        self._label = label
        self._task: Any = None
        self._failed = 0

    def start(self, total: int, skipped: int) -> None:
        label = self._label + (f" ({skipped} already done)" if skipped else "")
        self._task = self._progress.add_task(label, total=total, failed=0, current="")
        self._progress.start()

    def advance(self, path: str, ok: bool) -> None:
        self._failed += 0 if ok else 1
        self._progress.update(self._task, advance=1, failed=self._failed, current=_short(path))

    def stop(self) -> None:
        self._progress.stop()


def make_progress(console: Console, label: str, verbosity: int) -> RichBatchProgress | None:
    """A progress bar when stderr is a terminal and not --quiet; else None (no bar at all)."""
    if verbosity < 0 or not console.is_terminal:
        return None
    return RichBatchProgress(console, label)


def _short(path: str, width: int = 40) -> str:
    return path if len(path) <= width else "…" + path[-(width - 1) :]


def write_line(text: str) -> None:
    """A result line on stdout, flushed (pipelines see it at once)."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()
