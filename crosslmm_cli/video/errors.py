"""Named errors for every way a video input can fail.

`str(error)` is always one line that names the file and the cause, so the CLI can print
`error: <message>` and move on to the next file of a batch. No numpy here: the CLI imports this
module to map errors to exit codes without paying for the decoding stack.
"""

from __future__ import annotations

from pathlib import Path


class VideoError(Exception):
    """Base class: a video (or image) that cannot be read as asked. `path` is the input as given."""

    cause = "cannot be read"

    def __init__(self, path: str | Path, detail: str | None = None) -> None:
        self.path = str(path)
        self.detail = detail
        message = f"{shown_path(self.path)}: {self.cause}"
        if detail:
            # One line, whatever the detail contained (ffmpeg messages can carry newlines).
            message += f" ({' '.join(detail.split())})"
        super().__init__(message)


def shown_path(path: str) -> str:
    """`path` as an error names it: as given, quoted when spaces at its ends or a control
    character would otherwise be invisible or break the line."""
    if path != path.strip() or any(ord(c) < 32 for c in path):
        return repr(path)
    return path


class RemoteInputError(VideoError):
    cause = "is a URL; crosslmm reads local files only (download it first)"


class VideoNotFoundError(VideoError, FileNotFoundError):
    cause = "no such file"


class IsADirectoryVideoError(VideoError, IsADirectoryError):
    cause = "is a directory, not a video file"


class VideoPermissionError(VideoError, PermissionError):
    cause = "permission denied (not readable by this user)"


class NotAVideoError(VideoError):
    cause = "is not a video or image file"


class AudioOnlyError(NotAVideoError):
    cause = "has no video stream (audio only)"


class EmptyVideoError(VideoError):
    cause = "is empty or has zero duration"


class CorruptVideoError(VideoError):
    cause = "is truncated or corrupt: no frame could be decoded"


class UnsupportedCodecError(VideoError):
    cause = "uses a video codec that this ffmpeg cannot decode"


class BadDimensionsError(VideoError):
    cause = "has absurd frame dimensions"


class SegmentError(VideoError):
    cause = "the requested time segment is outside the video"


class DecodeTimeoutError(VideoError, TimeoutError):
    cause = "decoding took too long and was abandoned"


class BackendUnavailableError(VideoError):
    cause = "the requested video backend is not available"


__all__ = [
    "AudioOnlyError",
    "BackendUnavailableError",
    "BadDimensionsError",
    "CorruptVideoError",
    "DecodeTimeoutError",
    "EmptyVideoError",
    "IsADirectoryVideoError",
    "NotAVideoError",
    "RemoteInputError",
    "SegmentError",
    "UnsupportedCodecError",
    "VideoError",
    "VideoNotFoundError",
    "VideoPermissionError",
]
