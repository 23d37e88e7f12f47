"""Writing chapters out: plain text, YouTube descriptions, JSON, WebVTT and FFmpeg metadata.

`ffmetadata` output muxes into a file without re-encoding:
`ffmpeg -i in.mp4 -i chapters.txt -map_metadata 1 -codec copy out.mp4`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace

from crosslmm_cli.errors import InputError
from crosslmm_cli.tasks.chapters import Chapter, ChapterOptions
from crosslmm_cli.units import format_clock

FORMATS = ("text", "youtube", "json", "vtt", "ffmetadata")

# YouTube shows chapters only if the first starts at 0:00, there are at least three, and each
# lasts at least ten seconds (YouTube Help, "Video chapters").
YOUTUBE_MIN_CHAPTERS = 3
YOUTUBE_MIN_LENGTH = 10.0


def youtube_options(options: ChapterOptions) -> ChapterOptions:
    """Detection settings that can satisfy YouTube's rules: whole seconds, >= 10 s, >= 3 chapters."""
    return replace(
        options,
        min_length=max(options.min_length, YOUTUBE_MIN_LENGTH),
        min_chapters=max(options.min_chapters, YOUTUBE_MIN_CHAPTERS),
        max_chapters=max(options.max_chapters, YOUTUBE_MIN_CHAPTERS),
        resolution=1.0,
    )


def check_youtube(chapters: Sequence[Chapter], duration: float, path: str = "video") -> None:
    """Raise InputError unless YouTube would accept these chapters (as written: whole seconds)."""
    if duration < YOUTUBE_MIN_CHAPTERS * YOUTUBE_MIN_LENGTH:
        raise InputError(
            f"{path}: too short for YouTube chapters ({duration:.1f} s; YouTube needs {YOUTUBE_MIN_CHAPTERS} chapters "
            f"of at least {YOUTUBE_MIN_LENGTH:g} s)",
            hint="use --format text or vtt",
        )
    starts = [math.floor(c.start) for c in chapters]
    ends = starts[1:] + [duration]
    if len(chapters) < YOUTUBE_MIN_CHAPTERS:
        raise InputError(f"{path}: only {len(chapters)} chapter(s); YouTube needs at least {YOUTUBE_MIN_CHAPTERS}")
    if starts[0] != 0:
        raise InputError(f"{path}: the first chapter must start at 0:00 for YouTube")
    for start, end in zip(starts, ends):
        if end - start < YOUTUBE_MIN_LENGTH:
            raise InputError(f"{path}: the chapter at {format_clock(start)} is shorter than {YOUTUBE_MIN_LENGTH:g} s")


def format_chapters(chapters: Sequence[Chapter], fmt: str, *, duration: float, path: str = "video") -> str:
    """The chapters in `fmt` (one of FORMATS), ending with a newline."""
    if fmt == "text":
        hours = duration >= 3600
        return "".join(
            f"{format_clock(c.start, always_hours=hours)}–{format_clock(c.end, always_hours=hours)}  {_one_line(c.title)}\n"
            for c in chapters
        )
    if fmt == "youtube":
        check_youtube(chapters, duration, path)
        hours = duration >= 3600
        return "".join(f"{format_clock(math.floor(c.start), always_hours=hours)} {_one_line(c.title)}\n" for c in chapters)
    if fmt == "json":
        data = {"path": path, "duration": duration, "chapters": chapters_as_dicts(chapters)}
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if fmt == "vtt":
        cues = [
            f"{k}\n{format_clock(c.start, millis=True)} --> {format_clock(c.end, millis=True)}\n{_one_line(c.title)}\n"
            for k, c in enumerate(chapters, 1)
        ]
        return "WEBVTT\n\n" + "\n".join(cues)
    if fmt == "ffmetadata":
        blocks = [
            f"[CHAPTER]\nTIMEBASE=1/1000\nSTART={round(c.start * 1000)}\nEND={round(c.end * 1000)}\n"
            f"title={_ffmetadata_escape(_one_line(c.title))}\n"
            for c in chapters
        ]
        return ";FFMETADATA1\n" + "\n".join(blocks)
    raise ValueError(f"unknown chapter format {fmt!r}; choose from {', '.join(FORMATS)}")


def chapters_as_dicts(chapters: Sequence[Chapter]) -> list[dict]:
    return [{"start": round(c.start, 3), "end": round(c.end, 3), "title": c.title} for c in chapters]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _ffmetadata_escape(text: str) -> str:
    """FFmpeg's metadata syntax: '=', ';', '#', '\\' and newlines are escaped with a backslash."""
    for char in ("\\", "=", ";", "#"):
        text = text.replace(char, "\\" + char)
    return text.replace("\n", "\\\n")
