"""Encode rendered frames to H.264 .mp4 (yuv420p) by piping raw RGB into an ffmpeg process.

The output is byte-for-byte reproducible for a given ffmpeg build: one encoder thread (x264's
output depends on its thread count), bit-exact muxing and no metadata such as creation times.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np


class VideoWriteError(RuntimeError):
    """ffmpeg is missing or failed to write a clip; the message names the file and the cause."""


def ffmpeg_executable() -> str:
    """The ffmpeg the whole tool runs (`crosslmm_cli.video.ffmpeg_executable`: $CROSSLMM_FFMPEG, else
    the system's, else imageio-ffmpeg's); a VideoWriteError when there is none."""
    from crosslmm_cli.video.ffmpeg_binary import FFmpegNotFoundError
    from crosslmm_cli.video.ffmpeg_binary import ffmpeg_executable as find_ffmpeg

    try:
        return find_ffmpeg()
    except FFmpegNotFoundError as err:  # pragma: no cover - imageio-ffmpeg is a dependency
        raise VideoWriteError(str(err)) from err


def write_mp4(frames: np.ndarray, path: str | Path, fps: int, *, crf: int = 18) -> Path:
    """Write uint8 frames (T, H, W, 3), H and W even, to `path` as H.264 yuv420p at `fps`.

    crf 18 keeps colours within a few levels of the rendered ones on these flat scenes while a
    4 s clip at 128x128 stays a few kilobytes.
    """
    path = Path(path)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{path}: frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"{path}: yuv420p needs even width and height, got {width}x{height}")
    cmd = [
        ffmpeg_executable(),
        "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps), "-i", "pipe:0",
        "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-threads", "1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
        "-movflags", "+faststart",
        str(path),
    ]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), capture_output=True, check=False)
    except OSError as err:
        raise VideoWriteError(f"{path}: cannot run ffmpeg ({err})") from err
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        raise VideoWriteError(f"{path}: ffmpeg failed ({lines[-1] if lines else f'exit code {proc.returncode}'})")
    return path
