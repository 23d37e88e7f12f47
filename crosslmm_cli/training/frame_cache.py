"""Frames of a training clip: decoded once, at the encoder's input size, then read from a cache.

Training goes over the same clips epoch after epoch (the bundled demo model many times on CPU),
so decoding is paid once: the sampled frames are stored as uint8 (T, S, S, 3) `.npz` files keyed
by the file (path, size, mtime), the sampling and the image processor's settings. Frames are
decoded at the tile size the image processor resizes to, as `crosslmm ask` decodes them, so a
model is trained on the pixels it will see. Loading a cached clip is a file read (`np.load`
without pickles).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from crosslmm_cli.errors import CrossLMMError

if TYPE_CHECKING:
    import torch

    from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ts", ".gif")


class ClipDecodeError(CrossLMMError):
    """A clip could not be decoded; the message names the file."""


@dataclass(frozen=True)
class FrameSampling:
    """Which frames to take: `num_frames` evenly, or `fps` per second up to `max_frames`."""

    num_frames: int | None = None
    fps: float | None = None
    max_frames: int = 64

    def __post_init__(self) -> None:
        if self.num_frames is not None and self.fps is not None:
            raise ValueError("give the number of frames or fps, not both")
        if self.num_frames is not None and self.num_frames < 1:
            raise ValueError(f"frames must be >= 1, got {self.num_frames}")
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {self.max_frames}")


@dataclass(frozen=True, eq=False)
class ClipFrames:
    """frames: uint8 (T, S, S, 3) at the encoder's input size; timestamps: float64 (T,) seconds."""

    frames: np.ndarray
    timestamps: np.ndarray
    duration: float

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


def decode_clip(path: Path, sampling: FrameSampling, size: tuple[int, int] | None) -> ClipFrames:
    """Sample frames with `crosslmm_cli.video` (decoded at `size` = (height, width) when given)."""
    from crosslmm_cli import video

    try:
        sampled = video.sample_frames(
            path, num_frames=sampling.num_frames, fps=sampling.fps, max_frames=sampling.max_frames,
            size=(size[1], size[0]) if size else None,
        )
    except video.VideoError as error:
        raise ClipDecodeError(str(error)) from error
    return ClipFrames(np.ascontiguousarray(sampled.array), np.asarray(sampled.timestamps, dtype=np.float64),
                      float(sampled.info.duration))


def repeat_to(clip: ClipFrames, count: int) -> ClipFrames:
    """Exactly `count` frames: a clip shorter than the request repeats frames (nearest in time)."""
    if clip.num_frames == count:
        return clip
    pick = np.round(np.linspace(0, clip.num_frames - 1, count)).astype(np.int64)
    return ClipFrames(clip.frames[pick], clip.timestamps[pick], clip.duration)


class FrameLoader:
    """Decode, resize to the image processor's tile and cache the frames of clips.

    `exact`: every clip gets exactly `sampling.num_frames` frames (batches need one T).
    `cache_dir=None` disables the cache (eval, which reads each clip once).
    """

    def __init__(
        self,
        image_processor: CrossLMMImageProcessor,
        sampling: FrameSampling,
        *,
        cache_dir: str | Path | None = None,
        exact: bool = False,
    ) -> None:
        if exact and sampling.num_frames is None:
            raise ValueError("exact frame counts need a number of frames, not fps")
        self.image_processor = image_processor
        self.sampling = sampling
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.exact = exact
        self.size = image_processor.output_size  # (height, width) or None: decode at the stored size
        self._resize_only = None

    def cache_key(self, path: Path) -> str:
        stat = path.stat()
        identity = {
            "path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "sampling": asdict(self.sampling), "exact": self.exact, "processor": self.image_processor.to_dict(),
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:40]

    def load(self, path: str | Path) -> ClipFrames:
        """The clip's frames (from the cache when there); raises ClipDecodeError."""
        path = Path(path)
        try:
            key = self.cache_key(path) if self.cache_dir is not None else None
        except OSError as error:
            raise ClipDecodeError(f"{path}: {error.strerror or error}") from error
        if key is not None:
            cached = self._read(key)
            if cached is not None:
                return cached
        clip = decode_clip(path, self.sampling, self.size)
        clip = ClipFrames(self._to_tile(clip.frames), clip.timestamps, clip.duration)
        if self.exact:
            clip = repeat_to(clip, self.sampling.num_frames)
        if key is not None:
            self._write(key, clip)
        return clip

    def pixels(self, clip: ClipFrames) -> torch.Tensor:
        """float32 (T, 3, S, S): the image processor's output for the clip's frames."""
        return self.image_processor(clip.frames)

    def _to_tile(self, frames: np.ndarray) -> np.ndarray:
        """The image processor's resize (and crop) alone, if the decoder did not deliver the tile size."""
        if self.size is None or tuple(frames.shape[1:3]) == tuple(self.size):
            return frames
        import torch

        if self._resize_only is None:
            from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor

            config = replace(self.image_processor.config, do_rescale=False, do_normalize=False)
            self._resize_only = CrossLMMImageProcessor(config)
        resized = self._resize_only(frames)  # float32 (T, 3, S, S) holding exact uint8 values
        return np.ascontiguousarray(resized.round().to(torch.uint8).permute(0, 2, 3, 1).numpy())

    def _read(self, key: str) -> ClipFrames | None:
        file = self.cache_dir / f"{key}.npz"
        try:
            with np.load(file, allow_pickle=False) as data:
                return ClipFrames(data["frames"], data["timestamps"], float(data["duration"]))
        except (OSError, KeyError, ValueError):  # absent, or a damaged entry: decode again
            return None

    def _write(self, key: str, clip: ClipFrames) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        final = self.cache_dir / f"{key}.npz"
        partial = self.cache_dir / f"{key}.{os.getpid()}.tmp.npz"  # DataLoader workers write side by side
        np.savez(partial, frames=clip.frames, timestamps=clip.timestamps, duration=np.float64(clip.duration))
        os.replace(partial, final)


def find_videos(folder: str | Path) -> list[Path]:
    """Video files under `folder` (recursively), in a stable order."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
