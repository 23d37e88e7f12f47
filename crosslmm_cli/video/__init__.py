"""Video input: find the videos a command names, probe them, sample frames with exact
presentation timestamps, and read their subtitles.

    from crosslmm_cli.video import probe, sample_frames
    info = probe("clip.mp4")                       # VideoInfo, from the header
    frames = sample_frames("clip.mp4", num_frames=32, size=384)
    frames.array      # uint8 (32, H, W, 3)
    frames.timestamps # float64 (32,) seconds: when each returned frame is shown

Bad input raises a `VideoError` subclass whose message is one line naming the file and cause.
`discovery` turns PATH arguments into video files (one list of video suffixes for every command);
`subtitles` reads sidecar and embedded subtitles for the prompt.
Names are loaded on first use, so importing this package does not import numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crosslmm_cli.lazy import lazy_exports
from crosslmm_cli.video.errors import (
    AudioOnlyError,
    BackendUnavailableError,
    BadDimensionsError,
    CorruptVideoError,
    DecodeTimeoutError,
    EmptyVideoError,
    IsADirectoryVideoError,
    NotAVideoError,
    RemoteInputError,
    SegmentError,
    UnsupportedCodecError,
    VideoError,
    VideoNotFoundError,
    VideoPermissionError,
)
from crosslmm_cli.video.ffmpeg_binary import ffmpeg_executable
from crosslmm_cli.video.info import VideoInfo
from crosslmm_cli.video.options import SamplingOptions

if TYPE_CHECKING:
    from crosslmm_cli.video.frames import Frames
    from crosslmm_cli.video.packet_index import FrameIndex
    from crosslmm_cli.video.sampling import probe, probe_readable, sample_frames
    from crosslmm_cli.video.selection import Selection, select_frames

_LAZY = {
    "Frames": "crosslmm_cli.video.frames",
    "FrameIndex": "crosslmm_cli.video.packet_index",
    "Selection": "crosslmm_cli.video.selection",
    "select_frames": "crosslmm_cli.video.selection",
    "probe": "crosslmm_cli.video.sampling",
    "probe_readable": "crosslmm_cli.video.sampling",
    "sample_frames": "crosslmm_cli.video.sampling",
}

__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = [
    "AudioOnlyError",
    "BackendUnavailableError",
    "BadDimensionsError",
    "CorruptVideoError",
    "DecodeTimeoutError",
    "EmptyVideoError",
    "FrameIndex",
    "Frames",
    "IsADirectoryVideoError",
    "NotAVideoError",
    "RemoteInputError",
    "SamplingOptions",
    "SegmentError",
    "Selection",
    "UnsupportedCodecError",
    "VideoError",
    "VideoInfo",
    "VideoNotFoundError",
    "VideoPermissionError",
    "ffmpeg_executable",
    "probe",
    "probe_readable",
    "sample_frames",
    "select_frames",
]
