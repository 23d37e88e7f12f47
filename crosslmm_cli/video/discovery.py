"""Turning command-line PATH arguments into the list of videos to process, for every command.

`describe`, `batch` (`discover_inputs`) and `distill` (`find_videos`, a folder of videos) find
videos with this one walk and this one list of suffixes, so they find the same files.

Files are taken as given (whatever their extension: the user named them); directories are
walked recursively for video extensions, in sorted order, following symlinks but never the same
directory twice (symlink loops end); `-` reads more paths from stdin, one per line, so
`find . -name '*.mp4' | crosslmm describe --jsonl -` works. A line from stdin is a path exactly as
written, less its line ending (`\n` or `\r\n`): a name may begin or end with a space, so spaces
are kept (a missing path says so when the path without them exists); blank lines are skipped.
Missing paths are kept: they become failed records with a clear error instead of silently vanishing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg",
        ".ts", ".mts", ".m2ts", ".3gp", ".ogv", ".gif",
    }
)  # fmt: skip

STDIN = "-"


def is_video_name(name: str, extensions: frozenset[str] = VIDEO_EXTENSIONS) -> bool:
    return os.path.splitext(name)[1].lower() in extensions and not name.startswith(".")


def discover_inputs(
    paths: Iterable[str], *, stdin: TextIO | None = None, extensions: frozenset[str] = VIDEO_EXTENSIONS
) -> list[str]:
    """The videos named by `paths`, each once (by real path), in argument order, directories sorted."""
    seen: set[str] = set()
    found: list[str] = []
    for path in _expand_stdin(paths, stdin):
        for video in _walk(path, extensions) if os.path.isdir(path) else (path,):
            identity = os.path.realpath(video)
            if identity not in seen:
                seen.add(identity)
                found.append(video)
    return found


def find_videos(folder: str | os.PathLike[str]) -> list[Path]:
    """The video files under `folder` (recursively), as `discover_inputs` finds them for a directory."""
    return [Path(video) for video in discover_inputs([os.fspath(folder)])]


def _expand_stdin(paths: Iterable[str], stdin: TextIO | None) -> Iterator[str]:
    for path in paths:
        if path != STDIN:
            yield path
            continue
        if stdin is None:
            raise ValueError("'-' given but no stdin to read paths from")
        for line in stdin:
            line = line.rstrip("\r\n")
            if line.strip():
                yield line


def _walk(top: str, extensions: frozenset[str]) -> list[str]:
    """Video files under `top`, sorted by path; each real directory visited once."""
    visited: set[tuple[int, int]] = set()
    videos: list[str] = []

    def onerror(_exc: OSError) -> None:  # unreadable subdirectory: skip it, keep walking
        return None

    for root, dirs, files in os.walk(top, followlinks=True, onerror=onerror):
        try:
            st = os.stat(root)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in visited:
            dirs[:] = []
            continue
        visited.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        videos.extend(os.path.join(root, name) for name in files if is_video_name(name, extensions))
    return sorted(videos)
