"""Terminal rendering: Markdown while streaming on a terminal, plain chunks elsewhere; progress bar only on a terminal."""

import io
import re

from rich.console import Console

from crosslmm_cli.batch import run_batch
from crosslmm_cli.cli.terminal import AnswerRenderer, make_progress


def console(terminal: bool) -> Console:
    return Console(file=io.StringIO(), force_terminal=terminal, width=60, no_color=True)


def stream(renderer, chunks):
    renderer.begin()
    for chunk in chunks:
        renderer.write(chunk)
    renderer.end()
    return renderer.console.file.getvalue()


def test_plain_output_is_the_chunks_themselves_plus_a_final_newline():
    out = stream(AnswerRenderer(console(False)), ["A **red** ", "square", " moves."])
    assert out == "A **red** square moves.\n"


def test_terminal_output_renders_markdown():
    out = stream(AnswerRenderer(console(True)), ["A **red** ", "square", " moves."])
    assert "\x1b[1mred" in out  # bold, not asterisks
    assert "A red square moves." in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)


def test_progress_bar_with_eta_only_on_a_terminal():
    assert make_progress(console(False), "describe", verbosity=0) is None
    term = console(True)
    assert make_progress(term, "describe", verbosity=-1) is None  # --quiet
    progress = make_progress(term, "describe", verbosity=0)
    run_batch(["a.mp4", "b.mp4"], task="describe", prepare=str, process=lambda p, x: {}, progress=progress)
    shown = term.file.getvalue()
    assert "2/2" in shown and "ETA" in shown and "0 failed" in shown


def test_no_color_removes_every_style_not_only_colour(monkeypatch):
    """Issue 14, item 10: with NO_COLOR=1, rich kept bold and dim (notes, the chat prompt, Markdown)."""
    from crosslmm_cli.cli.terminal import make_console

    def printed(**kwargs):
        console = make_console(file=io.StringIO(), force_terminal=True, **kwargs)
        console.print("a note", style="dim")
        console.print("[bold]> [/]", end="")
        return console.file.getvalue()

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[2m" in printed() and "\x1b[1m" in printed()
    monkeypatch.setenv("NO_COLOR", "1")
    assert printed() == "a note\n> "
    answer = stream(AnswerRenderer(make_console(file=io.StringIO(), force_terminal=True, width=60)), ["A **red** square."])
    assert not re.search(r"\x1b\[[0-9;]*m", answer) and "A red square." in answer
