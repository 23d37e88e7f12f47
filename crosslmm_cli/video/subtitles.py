"""Subtitles for the prompt: sidecar .srt/.vtt files, or a text track inside the video.

`--subtitles auto` looks for `<video stem>.srt|.vtt` (then `<stem>.<lang>.srt|vtt`, English
first) next to the video, else extracts the first text subtitle track with ffmpeg; the cues that
fall inside the sampled segment go into the prompt with their times (the paper's "with subtitles"
setting). Bitmap tracks (DVD, PGS) cannot become text and are skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from crosslmm_cli.errors import InputError

SIDECAR_EXTENSIONS = (".srt", ".vtt")
MAX_PROMPT_CHARS = 4000  # subtitle text budget per prompt; longer sets are thinned evenly

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})[.,](\d{1,3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")  # <i>, <c.colour>, <00:01.000>, {\an8}


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str


@dataclass(frozen=True)
class Subtitles:
    source: str  # file path, or "<video> (embedded track)"
    cues: tuple[Cue, ...]


def parse_subtitles(text: str) -> list[Cue]:
    """Cues from SRT or WebVTT text (both: blocks of a timing line and text lines).

    Markup is stripped, and a cue repeating the previous one's text (rolling captions) is merged
    into it rather than listed twice.
    """
    cues: list[Cue] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")):
        lines = block.strip("\n").split("\n")
        for k, line in enumerate(lines):
            match = _TIMING.match(line)
            if match:
                start, end = _seconds(match.groups()[:4]), _seconds(match.groups()[4:])
                body = " ".join(_TAG.sub("", part).strip() for part in lines[k + 1 :])
                body = " ".join(body.split())
                if body and end >= start:
                    if cues and cues[-1].text == body and start <= cues[-1].end + 0.5:
                        cues[-1] = Cue(cues[-1].start, max(end, cues[-1].end), body)
                    else:
                        cues.append(Cue(start, end, body))
                break
    return sorted(cues, key=lambda c: (c.start, c.end))


def read_subtitle_file(path: Path) -> Subtitles:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read subtitles ({exc.strerror or exc})") from exc
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    cues = parse_subtitles(text)
    if not cues and raw.strip():
        raise InputError(f"{path}: no subtitle cues found (expected SRT or WebVTT)")
    return Subtitles(str(path), tuple(cues))


def find_sidecar(video: Path) -> Path | None:
    """`movie.srt`/`movie.vtt`, else `movie.<lang>.srt` etc. (English first, then sorted)."""
    video = Path(video)
    for ext in SIDECAR_EXTENSIONS:
        exact = video.with_suffix(ext)
        if exact.is_file():
            return exact
    try:
        siblings = sorted(p for p in video.parent.iterdir() if p.suffix.lower() in SIDECAR_EXTENSIONS and p.is_file())
    except OSError:
        return None
    tagged = [p for p in siblings if p.stem.rsplit(".", 1)[0] == video.stem and "." in p.stem]
    english = [p for p in tagged if p.stem.rsplit(".", 1)[1].lower() in ("en", "eng", "english")]
    return (english or tagged or [None])[0]


def extract_embedded(video: Path, *, ffmpeg: str, timeout_s: float = 120.0) -> Subtitles | None:
    """The first subtitle track as text via ffmpeg, or None when there is no text track.

    Remembered per file (real path, size, mtime) for the process's life: a warm server asks about
    the same few files again and again, and each look costs an ffmpeg run."""
    try:
        st = os.stat(video)
        key = (str(video), os.path.realpath(video), st.st_size, st.st_mtime_ns, ffmpeg)
    except OSError:
        key = None
    with _EMBEDDED_LOCK:
        if key is not None and key in _EMBEDDED:
            _EMBEDDED.move_to_end(key)
            return _EMBEDDED[key]
    found, settled = _extract_embedded(video, ffmpeg=ffmpeg, timeout_s=timeout_s)
    if key is not None and settled:  # a timeout may go better next time
        with _EMBEDDED_LOCK:
            _EMBEDDED[key] = found
            while len(_EMBEDDED) > _EMBEDDED_ENTRIES:
                _EMBEDDED.popitem(last=False)
    return found


_EMBEDDED: OrderedDict[tuple, Subtitles | None] = OrderedDict()
_EMBEDDED_LOCK = threading.Lock()
_EMBEDDED_ENTRIES = 256


def _extract_embedded(video: Path, *, ffmpeg: str, timeout_s: float) -> tuple[Subtitles | None, bool]:
    """(the track or None, whether that is the answer for this file rather than a timeout)."""
    command = [ffmpeg, "-nostdin", "-v", "error", "-i", str(video), "-map", "0:s:0", "-f", "webvtt", "-"]
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return None, False
    if result.returncode != 0:
        return None, True  # no subtitle stream, or a bitmap one that cannot be converted to text
    cues = parse_subtitles(result.stdout.decode("utf-8", errors="replace"))
    return (Subtitles(f"{video} (embedded track)", tuple(cues)) if cues else None), True


def load_subtitles(video: Path, mode: str, *, ffmpeg: str | None = None) -> Subtitles | None:
    """`mode` is "off", "auto" (sidecar, else embedded track, else none) or a subtitle file path."""
    if mode == "off":
        return None
    if mode != "auto":
        return read_subtitle_file(Path(mode))
    sidecar = find_sidecar(Path(video))
    if sidecar is not None:
        return read_subtitle_file(sidecar)
    if ffmpeg is None or not Path(video).is_file():
        return None
    return extract_embedded(Path(video), ffmpeg=ffmpeg)


def select_cues(
    cues: Sequence[Cue], start: float, end: float, *, max_chars: int = MAX_PROMPT_CHARS
) -> list[tuple[float, float, str]]:
    """Cues overlapping [start, end] as (start, end, text); thinned evenly to fit `max_chars`."""
    inside = [(c.start, c.end, c.text) for c in cues if c.end >= start and c.start <= end]
    total = sum(len(text) for *_, text in inside)
    if total <= max_chars or not inside:
        return inside
    keep = max(1, int(len(inside) * max_chars / total))
    step = len(inside) / keep
    return [inside[int(k * step)] for k in range(keep)]


def _seconds(parts: Sequence[str | None]) -> float:
    hours, minutes, secs, frac = parts
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(secs) + int(frac.ljust(3, "0")) / 1000
