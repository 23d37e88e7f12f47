"""Frames of a training clip: decoded once, then read from a cache.

Training goes over the same clips epoch after epoch (the bundled demo model many times on CPU),
so decoding is paid once: the sampled frames are stored as uint8 `.npz` files keyed by the file
(path, size, mtime), the sampling and the image processor's settings. Frames are sampled exactly
as `crosslmm ask` samples them (`FrameOptions.sampling`: the same count, times and decoded size)
and reach the encoder through the same image processor, so a model is trained and evaluated on the
pixels it will see: the processor's resize (and crop) makes the uint8 tiles a clip is kept as,
and `pixels()` applies its normalisation, which together are exactly what the processor computes
in one call (as `crosslmm ask` runs it). Loading a cached clip is a file read (`np.load` without
pickles).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crosslmm_cli.engine.options import FrameOptions
from crosslmm_cli.errors import CrossLMMError

if TYPE_CHECKING:
    import torch

    from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor
    from crosslmm_cli.video import SamplingOptions


class ClipDecodeError(CrossLMMError):
    """A clip could not be decoded; the message names the file."""


@dataclass(frozen=True, eq=False)
class ClipFrames:
    """frames: uint8 (T, H, W, 3) (the encoder's tiles when cached); timestamps: float64 (T,) seconds;
    segment: the (start, end) seconds they were sampled from, None for the whole video."""

    frames: np.ndarray
    timestamps: np.ndarray
    duration: float
    segment: tuple[float, float] | None = None

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


def decode_clip(path: Path, sampling: SamplingOptions) -> ClipFrames:
    """Sample frames with `crosslmm_cli.video`, as the engine's pipeline does."""
    from crosslmm_cli import video

    try:
        sampled = video.sample_frames(path, **asdict(sampling))
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
    """Decode, cache and preprocess the frames of clips.

    `frames`: which frames (unset count: DEFAULT_FRAMES), resolved as every command resolves them.
    `exact`: every clip gets exactly that many frames (batches need one T).
    `cache_dir=None` disables the cache (eval, which reads each clip once).
    `device`: where the image processor resizes (eval: the model's, as `crosslmm ask` resizes there;
    training: the CPU, in the DataLoader's workers).
    """

    def __init__(
        self,
        image_processor: CrossLMMImageProcessor,
        frames: FrameOptions,
        *,
        cache_dir: str | Path | None = None,
        exact: bool = False,
        device: Any = None,
    ) -> None:
        self.image_processor = image_processor
        self.sampling = frames.sampling(frame_size=image_processor.output_size)
        if exact and self.sampling.num_frames is None:
            raise ValueError("exact frame counts need a number of frames, not fps")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.exact = exact
        self.device = device
        self.size = image_processor.output_size  # (height, width) or None: decode at the stored size
        self._processors: dict[str, Any] = {}

    def cache_key(self, path: Path, sampling: SamplingOptions | None = None) -> str:
        stat = path.stat()
        identity = {
            "path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "sampling": asdict(sampling or self.sampling), "exact": self.exact, "processor": self.image_processor.to_dict(),
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:40]

    def load(self, path: str | Path, segment: tuple[float | None, float | None] | None = None) -> ClipFrames:
        """The clip's frames (from the cache when there), from `segment` = (start, end) seconds of it
        if given (either may be None: from the start, to the end); raises ClipDecodeError."""
        path = Path(path)
        sampling = self.sampling if segment is None else replace(self.sampling, start=segment[0], end=segment[1])
        try:
            key = self.cache_key(path, sampling) if self.cache_dir is not None else None
        except OSError as error:
            raise ClipDecodeError(f"{path}: {error.strerror or error}") from error
        clip = self._read(key) if key is not None else None
        if clip is None:
            clip = decode_clip(path, sampling)
            clip = replace(clip, frames=self._to_tile(clip.frames))
            if self.exact:
                clip = repeat_to(clip, sampling.num_frames)
            if key is not None:
                self._write(key, clip)
        if segment is not None:  # the part actually sampled, as the prompt will name it
            end = clip.duration if segment[1] is None else min(segment[1], clip.duration)
            clip = replace(clip, segment=(segment[0] or 0.0, end))
        return clip

    def pixels(self, clip: ClipFrames, device: Any = None) -> torch.Tensor:
        """float32 (T, 3, S, S) on `device` (default: the loader's): the image processor's output for the clip."""
        return self.normalize(clip.frames, device=device)

    def normalize(self, tiles: Any, device: Any = None) -> torch.Tensor:
        """uint8 tiles (N, S, S, 3), as `load` keeps them, -> the encoder's float32 input (N, 3, S, S)."""
        normalize = self._processor("normalize", do_resize=False, do_center_crop=False)
        return normalize(tiles, device=device if device is not None else self.device)

    def _to_tile(self, frames: np.ndarray) -> np.ndarray:
        """The image processor's resize (and crop) alone: uint8 frames at the size the encoder reads."""
        if self.size is None:
            return frames
        import torch

        resize = self._processor("resize", do_rescale=False, do_normalize=False)
        resized = resize(frames, device=self.device)  # float32 holding exact uint8 values
        return np.ascontiguousarray(resized.round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())

    def _processor(self, name: str, **config: bool) -> CrossLMMImageProcessor:
        """The image processor with some of its steps off: resize only (to store), normalise only (to read)."""
        if name not in self._processors:
            from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor

            self._processors[name] = CrossLMMImageProcessor(replace(self.image_processor.config, **config))
        return self._processors[name]

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
