"""Checks on the input path that need no decoder: URL, existence, type, permission, emptiness."""

from __future__ import annotations

import os
import re
import stat

from crosslmm_cli.video import errors

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]{1,15}://")
_REMOTE_SCHEMES = ("http:", "https:", "rtmp:", "rtsp:", "ftp:", "sftp:", "udp:", "tcp:", "srt:")


def check_local_file(path: str | os.PathLike[str]) -> str:
    """Return `path` as a string if it is a readable, non-empty regular file; raise the matching
    `VideoError` otherwise. `file://` URLs are accepted and turned into paths."""
    text = os.fspath(path)
    if isinstance(text, bytes):  # pragma: no cover - os.fspath of a bytes path
        text = os.fsdecode(text)
    if text.lower().startswith("file://"):
        text = text[len("file://") :]
    elif _URL.match(text) or text.lower().startswith(_REMOTE_SCHEMES):
        raise errors.RemoteInputError(text)
    try:
        st = os.stat(text)
    except FileNotFoundError:
        raise errors.VideoNotFoundError(text, _stripped_exists(text)) from None
    except PermissionError:
        raise errors.VideoPermissionError(text) from None
    except (NotADirectoryError, OSError) as exc:
        raise errors.VideoNotFoundError(text, exc.strerror) from None
    if stat.S_ISDIR(st.st_mode):
        raise errors.IsADirectoryVideoError(text)
    if not stat.S_ISREG(st.st_mode):
        # FIFOs, sockets and devices can block a reader forever; a video is a regular file.
        raise errors.NotAVideoError(text, "not a regular file")
    if not os.access(text, os.R_OK):
        raise errors.VideoPermissionError(text)
    try:
        with open(text, "rb") as handle:
            handle.read(1)
    except PermissionError:
        raise errors.VideoPermissionError(text) from None
    if st.st_size == 0:
        raise errors.EmptyVideoError(text, "0 bytes")
    return text


def _stripped_exists(text: str) -> str | None:
    """For a missing path with spaces at its ends (pasted, indented): say so if the path without them exists."""
    stripped = text.strip()
    if stripped and stripped != text and os.path.exists(stripped):
        return f"{stripped!r} exists: paths are taken exactly as written, spaces included"
    return None
