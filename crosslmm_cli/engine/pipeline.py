"""From a video path to an `EncodedVideo`: sampling, subtitles, the feature cache, the encoder.

Split in two steps for the batch engine: `prepare` (no model: cache lookup, frame decoding,
subtitle reading; runs in the prefetch thread) and `encode` (the vision encoder; runs where the
model lives, and fills the cache). A cache hit skips decoding and encoding altogether.

The decoding itself is a `FrameDecoder`: the sampling and the subtitle mode, no model, so it can
run where no model is loaded (a Ray decode task); `VideoPipeline.prepare` decodes through one, and
`VideoPipeline.cached` looks up the cache for a video decoded elsewhere.
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


@dataclass(frozen=True)
class FrameDecoder:
    """Frames and subtitles of a video, as `prepare` decodes them: no model, no cache, picklable.

    `sampling` is the model's (`VideoPipeline.sampling`): a decoder built elsewhere must be built
    from the same checkpoint to decode what the model expects."""

    sampling: SamplingOptions
    frame_options: FrameOptions
    subtitles: str = "auto"  # "auto" | "off" | a .srt/.vtt path

    def subtitles_of(self, path: str) -> Subtitles | None:
        from crosslmm_cli import video

        return load_subtitles(path, self.subtitles, ffmpeg=video.ffmpeg_executable())

    def decode(self, path: str, *, key: CacheKey | None = None, subtitles: Subtitles | None = None) -> PreparedVideo:
        """Probe and sample `path`; `key` is where the encoded result belongs in the feature cache (if any)."""
        from crosslmm_cli import video

        if subtitles is None:
            subtitles = self.subtitles_of(path)
        sampled = video.sample_frames(path, **asdict(self.sampling))
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

    def decoder(self) -> FrameDecoder:
        """What `prepare` decodes with: this model's sampling and the subtitle mode."""
        return FrameDecoder(self.sampling(), self.frame_options, self.subtitle_mode)

    def prepare(self, path: str, *, content: str | None = None) -> PreparedVideo:
        """Cache lookup, else decode; plus subtitles. No model work: safe in the prefetch thread.

        `content`: the sha256 of the file's bytes, to key the cache by content rather than by path
        (an uploaded video lands in a new temporary file each time)."""
        decoder = self.decoder()
        subtitles = decoder.subtitles_of(path)
        key = self.cache_key(path, content=content)
        hit = self._from_cache(path, key, subtitles)
        return hit if hit is not None else decoder.decode(path, key=key, subtitles=subtitles)

    def cached(self, prepared: PreparedVideo) -> PreparedVideo:
        """A video decoded elsewhere (by a `FrameDecoder` in a Ray task), as `prepare` would have
        given it here: the cached features if the cache has them, else the frames with the key that
        `encode` stores them under."""
        key = self.cache_key(prepared.path)
        hit = self._from_cache(prepared.path, key, prepared.subtitles)
        if hit is not None:
            return hit
        return replace(prepared, cache_key=None if prepared.partial else key)

    def cache_key(self, path: str, *, content: str | None = None) -> CacheKey | None:
        """Where `path`'s features belong in the cache; None without a cache or for an unreadable file."""
        if self.cache is None:
            return None
        sampling = asdict(self.sampling())
        try:
            if content is not None:
                return CacheKey.for_content(content, os.path.getsize(path), sampling, self.engine.fingerprint)
            return CacheKey.for_video(path, sampling, self.engine.fingerprint)
        except OSError:
            return None  # missing or unreadable: sample_frames says so, naming the file

    def _from_cache(self, path: str, key: CacheKey | None, subtitles: Subtitles | None) -> PreparedVideo | None:
        hit = self.cache.get(key) if (self.cache is not None and key is not None) else None
        if hit is None:
            return None
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

