"""From a video path to an `EncodedVideo`: sampling, subtitles, the feature cache, the encoder.

Split in two steps for the batch engine: `prepare` (no model: cache lookup, frame decoding,
subtitle reading; runs in the prefetch thread) and `encode` (the vision encoder; runs where the
model lives, and fills the cache). A cache hit skips decoding and encoding altogether.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from crosslmm_cli.engine.feature_cache import CacheKey, FeatureCache
from crosslmm_cli.engine.options import FrameOptions
from crosslmm_cli.errors import reraise_out_of_memory
from crosslmm_cli.video.subtitles import Subtitles, load_subtitles, select_cues

if TYPE_CHECKING:
    import torch

    from crosslmm_cli.engine.inference import EncodedVideo, Engine
    from crosslmm_cli.engine.memory_cache import MemoryFirstCache
    from crosslmm_cli.video import SamplingOptions


@dataclass(frozen=True)
class PreparedVideo:
    """One video, ready for the model: decoded frames, or features from the cache."""

    path: str
    duration: float
    timestamps: np.ndarray  # (T,) seconds
    frames: np.ndarray | None  # uint8 (T, H, W, 3); None on a cache hit
    cached_features: torch.Tensor | None  # (T, N, D_v) on CPU; None on a miss
    cache_key: CacheKey | None
    subtitles: Subtitles | None
    segment: tuple[float, float] | None  # the sampled (start, end), if not the whole video
    partial: bool = False  # the file was truncated and decoded only in part

    @property
    def num_frames(self) -> int:
        return len(self.timestamps)

    def reduced(self) -> PreparedVideo | None:
        """Half the frames, evenly spread (for a retry after running out of memory); None below 2."""
        count = self.num_frames // 2
        if count < 1:
            return None
        keep = np.unique(np.linspace(0, self.num_frames - 1, count).round().astype(int))
        return replace(
            self,
            timestamps=self.timestamps[keep],
            frames=None if self.frames is None else self.frames[keep],
            cached_features=None if self.cached_features is None else self.cached_features[list(keep)],
            cache_key=None,  # a different sampling: never store it under the original key
        )


class VideoPipeline:
    def __init__(
        self, engine: Engine, frames: FrameOptions, *, cache: FeatureCache | MemoryFirstCache | None = None,
        subtitles: str = "auto",
    ) -> None:
        self.engine = engine
        self.frame_options = frames
        self.cache = cache
        self.subtitle_mode = subtitles

    def sampling(self) -> SamplingOptions:
        """The frames to decode (and the cache key's sampling): the options, else the model's default."""
        return self.frame_options.sampling(default_frames=self.engine.default_frames, frame_size=self.engine.frame_size)

    def prepare(self, path: str, *, content: str | None = None) -> PreparedVideo:
        """Cache lookup, else decode; plus subtitles. No model work: safe in the prefetch thread.

        `content`: the sha256 of the file's bytes, to key the cache by content rather than by path
        (an uploaded video lands in a new temporary file each time)."""
        from crosslmm_cli import video

        sampling = asdict(self.sampling())
        subtitles = load_subtitles(path, self.subtitle_mode, ffmpeg=video.ffmpeg_executable())
        key = None
        if self.cache is not None:
            try:
                if content is not None:
                    key = CacheKey.for_content(content, os.path.getsize(path), sampling, self.engine.fingerprint)
                else:
                    key = CacheKey.for_video(path, sampling, self.engine.fingerprint)
            except OSError:
                key = None  # missing or unreadable: sample_frames says so, naming the file
            hit = self.cache.get(key) if key is not None else None
            if hit is not None:
                return PreparedVideo(
                    path=path,
                    duration=hit.duration,
                    timestamps=hit.timestamps.numpy(),
                    frames=None,
                    cached_features=hit.features,
                    cache_key=key,
                    subtitles=subtitles,
                    segment=_segment(self.frame_options, hit.duration),
                )
        sampled = video.sample_frames(path, **sampling)
        duration = float(sampled.info.duration)
        return PreparedVideo(
            path=path,
            duration=duration,
            timestamps=np.asarray(sampled.timestamps, dtype=np.float64),
            frames=sampled.array,
            cached_features=None,
            cache_key=None if sampled.partial else key,  # a truncated file is not cached: it may grow
            subtitles=subtitles,
            segment=_segment(self.frame_options, duration),
            partial=bool(sampled.partial),
        )

    def encode(self, prepared: PreparedVideo) -> EncodedVideo:
        """Features on the model's device, from the cache or the encoder (then stored in the cache)."""
        if prepared.cached_features is not None:
            return self.engine.from_features(prepared.cached_features, prepared.timestamps, prepared.duration, prepared.segment)
        try:
            encoded = self.engine.encode(prepared.frames, prepared.timestamps, prepared.duration, prepared.segment)
        except Exception as exc:
            reraise_out_of_memory(exc, prepared.num_frames, "encoding")
            raise
        if self.cache is not None and prepared.cache_key is not None:
            self.cache.put(prepared.cache_key, encoded.features, prepared.timestamps, prepared.duration, {"path": prepared.path})
        return encoded

    def subtitle_lines(self, prepared: PreparedVideo) -> list[tuple[float, float, str]] | None:
        """The subtitle cues inside the sampled segment, for the prompt."""
        if prepared.subtitles is None:
            return None
        start, end = prepared.segment or (0.0, prepared.duration)
        return select_cues(prepared.subtitles.cues, start, end) or None


def _segment(options: FrameOptions, duration: float) -> tuple[float, float] | None:
    if options.start is None and options.end is None:
        return None
    start = options.start or 0.0
    end = duration if options.end is None else min(options.end, duration)
    return (start, max(start, end))

