"""Finding and running the ffmpeg executable.

A system `ffmpeg` on PATH wins (it may have hardware decoders and is what the user maintains);
otherwise the static binary that the `imageio-ffmpeg` wheel ships, so a plain `pip install` needs
no system packages. There is deliberately no ffprobe dependency: imageio-ffmpeg does not ship one.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass

#: Set to a path to force a particular ffmpeg (tests, unusual installs).
FFMPEG_ENV = "CROSSLMM_FFMPEG"


class FFmpegNotFoundError(RuntimeError):
    """Neither a system ffmpeg nor imageio-ffmpeg's binary is available."""


@functools.lru_cache(maxsize=1)
def ffmpeg_executable() -> str:
    """Absolute path of the ffmpeg to run: $CROSSLMM_FFMPEG, else `ffmpeg` on PATH, else
    imageio-ffmpeg's bundled binary."""
    forced = os.environ.get(FFMPEG_ENV)
    if forced:
        return forced
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise FFmpegNotFoundError(
            "no ffmpeg found: install ffmpeg or `pip install imageio-ffmpeg`"
        ) from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: bytes
    stderr: str
    timed_out: bool


def run_ffmpeg(args: list[str], *, timeout_s: float, stdout_limit: int | None = None) -> Completed:
    """Run ffmpeg with `args` (without the executable), kill it (and only it) after `timeout_s`.

    stderr is decoded leniently: ffmpeg prints file names and metadata in whatever bytes they have.
    The process gets its own session so that a kill never reaches the caller's process group.
    """
    command = [ffmpeg_executable(), "-nostdin", "-hide_banner", *args]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill(process)
        stdout, stderr = process.communicate()
        timed_out = True
    if stdout_limit is not None:
        stdout = stdout[:stdout_limit]
    return Completed(process.returncode, stdout, stderr.decode("utf-8", "replace"), timed_out)


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def input_url(path: str) -> str:
    """ffmpeg input for a local path: `file:` stops names like `a:b.mp4` or `concat:...` from being
    read as protocols."""
    return "file:" + os.path.abspath(path)


#: Input options that keep ffmpeg on local files (a local playlist cannot pull URLs).
LOCAL_ONLY = ["-protocol_whitelist", "file"]


#: What ffmpeg / libav print when data is missing or damaged (truncated downloads, bit rot).
_DAMAGE = re.compile(
    r"partial file|File ended prematurely|corrupt|Invalid NAL|error while decoding|Error splitting"
    r"|Invalid data found when processing input|missing picture|concealing|truncat",
    re.I,
)


def problem_lines(log: str) -> list[str]:
    """The lines of an ffmpeg / libav log that report missing or damaged data.

    ffmpeg's own report of the input (`Input #0, mp4, from 'PATH':` and the indented Duration,
    Stream and metadata lines under it) is left out: it names the file and its tags, and a file
    in a folder called `truncated/` or titled "corrupt" is not damaged for that.
    """
    return [
        line.strip() for line in log.splitlines()
        if _DAMAGE.search(line) and not line[:1].isspace() and not line.startswith(("Input #", "Output #"))
    ]
