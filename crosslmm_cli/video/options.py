"""`SamplingOptions`: which frames to take from a video, as plain data.

The CLI builds one from its flags and passes it around; `sample_frames(path, options=opts)` and
`sample_frames(path, **dataclasses.asdict(opts))` mean the same. Bad values raise `ValueError`
here, before any file is opened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Backend = Literal["auto", "decord", "ffmpeg"]
BACKENDS: tuple[str, ...] = ("auto", "decord", "ffmpeg")

#: Seconds one backend may spend on one file before it is abandoned (then the next backend runs).
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_FRAMES = 64


@dataclass(frozen=True)
class SamplingOptions:
    """How to sample frames.

    - Default: `max_frames` frames, uniform over `[start, end]` (the whole video when unset): the
      segment is cut into equal bins and each bin contributes the frame shown at its centre.
    - `num_frames=N`: N uniform frames (N may exceed `max_frames`: an explicit count wins).
    - `fps=F`: about F frames per second of segment, capped at `max_frames`.
    - `times=(t0, t1, ...)`: exactly the frames shown at these times (no snapping), e.g. chapter
      boundaries. Excludes the other selectors.
    - `snap_to_keyframes`: a uniform bin may use a keyframe that lies inside the same bin instead
      of its centre frame; far faster on long files, never leaves the bin, and the reported
      timestamp is always the true one.
    - `size`: decode at this size. An int is the target length of the shorter side (aspect kept,
      never upscaled); `(width, height)` is exact. None keeps the stored resolution.
    - `backend`: "auto" (decord where it is reliable, else ffmpeg), "decord" or "ffmpeg".
    - `timeout_s`: per backend and file; a decode that runs longer is killed.
    """

    num_frames: int | None = None
    fps: float | None = None
    start: float | None = None
    end: float | None = None
    max_frames: int = DEFAULT_MAX_FRAMES
    size: int | tuple[int, int] | None = None
    backend: Backend = "auto"
    timeout_s: float = DEFAULT_TIMEOUT_S
    times: tuple[float, ...] | None = None
    snap_to_keyframes: bool = True

    def __post_init__(self) -> None:
        if self.num_frames is not None and (not _is_int(self.num_frames) or self.num_frames < 1):
            raise ValueError(f"num_frames must be a positive integer, got {self.num_frames!r}")
        if self.fps is not None and not (_is_finite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number, got {self.fps!r}")
        if self.num_frames is not None and self.fps is not None:
            raise ValueError("give num_frames or fps, not both")
        if not _is_int(self.max_frames) or self.max_frames < 1:
            raise ValueError(f"max_frames must be a positive integer, got {self.max_frames!r}")
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and not (_is_finite(value) and value >= 0):
                raise ValueError(f"{name} must be a time in seconds >= 0, got {value!r}")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end} s) must be after start ({self.start} s)")
        if self.times is not None:
            if isinstance(self.times, (str, bytes)) or not hasattr(self.times, "__iter__"):
                raise ValueError(f"times must be a sequence of seconds, got {self.times!r}")
            times = tuple(float(t) for t in self.times)
            if not times or not all(_is_finite(t) and t >= 0 for t in times):
                raise ValueError(f"times must be one or more times in seconds >= 0, got {self.times!r}")
            if any(v is not None for v in (self.num_frames, self.fps, self.start, self.end)):
                raise ValueError("times excludes num_frames, fps, start and end")
            object.__setattr__(self, "times", times)
        if self.size is not None:
            _check_size(self.size)
            if not isinstance(self.size, int):
                object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {self.backend!r}")
        if not (_is_finite(self.timeout_s) and self.timeout_s > 0):
            raise ValueError(f"timeout_s must be a positive number of seconds, got {self.timeout_s!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_size(size: object) -> None:
    if _is_int(size):
        if size < 2:  # type: ignore[operator]
            raise ValueError(f"size must be at least 2 pixels, got {size!r}")
        return
    if (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(_is_int(v) and v >= 2 for v in size)
    ):
        return
    raise ValueError(f"size must be an int (shorter side) or (width, height), got {size!r}")
