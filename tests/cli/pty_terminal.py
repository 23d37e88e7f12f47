"""Running a command on a real pseudo-terminal and reading back what its screen shows.

The command's stdin, stdout and stderr are the pty's slave side, sized with TIOCSWINSZ, so rich
sees a terminal exactly as on a user's machine; what it writes is fed to `pyte` (a VT100
emulator), and `screen_text` is the scrollback plus the screen as the user would read them.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from collections.abc import Sequence


def run_on_pty(
    command: Sequence[str], *, columns: int, rows: int = 24, typed: Sequence[bytes] = (), prompt: bytes = b"> ",
    timeout: float = 120.0, env: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """Run `command` on a `columns` x `rows` pty. Returns (exit code, everything it wrote).

    Each line of `typed` is typed (with its Enter) once the command shows `prompt` once more, as a
    user answers a prompt: typed ahead, the echo would land where the prompt's line should be.
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    environment = dict(os.environ if env is None else env)
    for name in ("COLUMNS", "LINES"):  # the size must come from the terminal itself
        environment.pop(name, None)
    environment["TERM"] = "xterm-256color"
    process = subprocess.Popen(list(command), stdin=slave, stdout=slave, stderr=slave, env=environment,
                               close_fds=True, start_new_session=True)
    os.close(slave)
    pending = list(typed)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the slave side is closed, the command is done
                break
            if not data:
                break
            output += data
            if pending and output.count(prompt) > len(typed) - len(pending):
                os.write(master, pending.pop(0) + b"\n")
        else:
            process.kill()
            raise TimeoutError(f"{command} ran over {timeout} s; output so far: {bytes(output)[-2000:]!r}")
        return process.wait(timeout=30), bytes(output)
    finally:
        os.close(master)


def screen_text(output: bytes, *, columns: int, rows: int = 24) -> str:
    """What a terminal of that size shows after `output`: the lines that scrolled away, then the screen."""
    import pyte

    screen = pyte.HistoryScreen(columns, rows, history=100_000)
    stream = pyte.ByteStream(screen)
    stream.feed(output)
    scrolled = ["".join(line[x].data for x in range(columns)).rstrip() for line in screen.history.top]
    shown = [line.rstrip() for line in screen.display]
    return "\n".join(scrolled + shown).strip("\n")


def words(text: str) -> str:
    """`text` with every run of whitespace (line breaks from wrapping included) as one space."""
    return " ".join(text.split())
