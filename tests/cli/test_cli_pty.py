"""Answers on a real terminal (issue 14): under a pty, at several widths, the whole answer is on
screen, once, in `ask`, `chat` and `describe`; short answers from the bundled demo model and
400-word answers (a stub generator, `long_answer_cli.py`) taller than the terminal."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pty_terminal import run_on_pty, screen_text, words
from test_cli_entry_point import crosslmm

pytestmark = pytest.mark.subprocess

ROOT = Path(__file__).resolve().parents[2]
CLIP = str(ROOT / "models" / "demo" / "examples" / "circle.mp4")
LONG = [sys.executable, str(Path(__file__).with_name("long_answer_cli.py"))]
EVERY_WORD = [f"w{n}" for n in range(1, 401)]


def numbered_words(screen: str) -> list[str]:
    return re.findall(r"\bw\d+\b", screen)


@pytest.mark.parametrize("columns", [40, 120])
def test_the_demo_models_answer_is_on_screen_whole_at_any_width(columns):
    """Whatever the demo answers (it is retrained now and then): the screen shows what a pipe gets."""
    args = ["ask", "--model", "demo", CLIP, "Describe the video.", "--max-new-tokens", "96"]
    piped = subprocess.run([*crosslmm(), *args], capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    answer = words(piped.stdout)
    assert answer
    code, output = run_on_pty([*crosslmm(), *args], columns=columns)
    screen = words(screen_text(output, columns=columns))
    assert code == 0, screen
    assert screen.count(answer) == 1, f"piped: {answer!r}\nscreen: {screen!r}"


@pytest.mark.parametrize(("columns", "rows"), [(40, 24), (120, 12)])
def test_a_long_answer_is_on_screen_whole_and_once(columns, rows):
    code, output = run_on_pty([*LONG, "ask", "--model", "demo", CLIP, "Describe the video."], columns=columns, rows=rows)
    screen = screen_text(output, columns=columns, rows=rows)
    assert code == 0, screen
    assert numbered_words(screen) == EVERY_WORD
    assert "•" in screen  # rendered as Markdown, not as the raw "- "
    assert max(len(line) for line in screen.splitlines()) <= columns


def test_describe_streams_a_long_answer_whole():
    code, output = run_on_pty([*LONG, "describe", "--model", "demo", CLIP], columns=72)
    screen = screen_text(output, columns=72)
    assert code == 0, screen
    assert numbered_words(screen) == EVERY_WORD


def test_chat_shows_each_long_answer_whole():
    typed = [b"Describe the video.", b"And again?", b"/exit"]
    code, output = run_on_pty([*LONG, "chat", "--model", "demo", CLIP], columns=60, typed=typed)
    screen = screen_text(output, columns=60)
    assert code == 0, screen
    assert numbered_words(screen) == EVERY_WORD * 2


def test_no_color_leaves_no_style_codes_on_a_terminal(monkeypatch):
    """NO_COLOR=1 (the tests' default): help, notes (dim) and answers carry no SGR codes at all."""
    monkeypatch.setenv("NO_COLOR", "1")
    sgr = re.compile(rb"\x1b\[[0-9;]*m")
    code, output = run_on_pty([*crosslmm(), "ask", "--help"], columns=100)
    assert code == 0 and b"--question" in output and not sgr.search(output), output[:400]
    code, output = run_on_pty([*LONG, "ask", "--model", "demo", CLIP, "Describe the video.", "--verbose"], columns=100)
    assert code == 0 and b"tokens per frame, loaded in" in output and b"w400" in output  # a dim --verbose line
    assert not sgr.search(output), sgr.findall(output)[:5]
