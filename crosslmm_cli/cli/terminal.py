"""Terminal output: the consoles, streamed answers on stdout, a progress bar on stderr.

On a terminal, answers render as Markdown while they stream (rich Live); anywhere else (a pipe,
a file, a test) they are written as plain text chunk by chunk and flushed, so `| tee` and
`| head` see text as soon as it is generated. The progress bar appears only when stderr is a
terminal and --quiet is off. With `NO_COLOR` set (https://no-color.org) nothing is styled:
no colour, and no bold or dim either.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
    from rich.live import Live


def no_styles() -> bool:
    """True when $NO_COLOR is set and not empty: then every console prints unstyled text."""
    return bool(os.environ.get("NO_COLOR"))


def make_console(**kwargs: Any) -> Console:
    """A rich Console that honours NO_COLOR fully (rich's own NO_COLOR keeps bold and dim)."""
    from rich.console import Console

    if no_styles():
        kwargs["color_system"] = None  # rich then writes no style codes at all
    return Console(highlight=False, **kwargs)


def stdout_console() -> Console:
    """Results on stdout; soft-wrapped (a long line stays one line, for pipes and `grep`)."""
    return make_console(soft_wrap=True)


def stderr_console() -> Console:
    """Notes, warnings and errors on stderr; soft-wrapped like stdout."""
    return make_console(stderr=True, soft_wrap=True)


def answer_console() -> Console:
    """Where streamed answers render: stdout, wrapped at the terminal's width.

    Not soft-wrapped: a rich Live on a soft-wrapping console renders each frame as unwrapped
    lines and crops them to the screen, which showed only an answer's first line (issue 14).
    """
    return make_console(soft_wrap=False)


class _Tail:
    """While an answer streams: its last lines that fit on the screen, so the newest text stays in view.

    (A Live taller than the screen cannot move the cursor back over what scrolled away, and would
    repeat the answer in the scrollback at every refresh.) The whole answer is printed once at the end.
    """

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        lines = console.render_lines(self.renderable, options, pad=False)
        for line in lines[-max(1, console.size.height - 1) :]:
            yield from line
            yield Segment.line()


class AnswerRenderer:
    """Receives text chunks (`write`) between `begin()` and `end()`; one instance per answer."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or answer_console()
        self.rich = self.console.is_terminal
        self.text = ""
        self._live: Live | None = None

    def begin(self) -> None:
        self.text = ""
        if self.rich:
            from rich.live import Live

            # transient: the streaming view is erased at the end and the whole answer printed once.
            self._live = Live(console=self.console, refresh_per_second=12, transient=True, vertical_overflow="crop")
            self._live.start()

    def write(self, chunk: str) -> None:
        self.text += chunk
        if self._live is not None:
            from rich.markdown import Markdown

            self._live.update(_Tail(Markdown(self.text)))
        else:
            stream = self.console.file
            stream.write(chunk)
            stream.flush()

    def end(self) -> None:
        if self._live is not None:
            from rich.markdown import Markdown

            self._live.stop()
            self._live = None
            if self.text.strip():
                self.console.print(Markdown(self.text))
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
