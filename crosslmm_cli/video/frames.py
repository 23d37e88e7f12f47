"""`Frames`: sampled frames with the presentation time of each."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from crosslmm_cli.video.info import VideoInfo


@dataclass(frozen=True, eq=False)
class Frames:
    """Decoded frames, ready for an image processor.

    array: uint8 (T, H, W, 3) RGB. timestamps: float64 (T,) seconds from the first frame of the
    video; each is the presentation time of the frame at the same position, in increasing order.
    `partial` is True when part of the file could not be decoded (truncated or corrupt); then
    `warning` says what happened in one line. `backend` names the decoder ("decord", "ffmpeg",
    "pillow", or "array" for frames built directly). `indices` are the frame numbers in the
    video, when known.

    Build one directly from arrays: `Frames(array, timestamps)` (info is then derived).
    """

    array: np.ndarray
    timestamps: np.ndarray
    info: VideoInfo | None = None
    partial: bool = False
    backend: str = "array"
    warning: str | None = None
    indices: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        array = np.asarray(self.array)
        if array.ndim == 3:  # a single frame (H, W, 3)
            array = array[None]
        if array.ndim != 4 or array.shape[-1] != 3:
            raise ValueError(f"frames must be (T, H, W, 3), got shape {array.shape}")
        if array.dtype != np.uint8:
            raise ValueError(f"frames must be uint8, got {array.dtype}")
        timestamps = np.asarray(self.timestamps, dtype=np.float64).reshape(-1)
        if timestamps.shape[0] != array.shape[0]:
            raise ValueError(f"{array.shape[0]} frames but {timestamps.shape[0]} timestamps")
        if not np.all(np.isfinite(timestamps)):
            raise ValueError("timestamps must be finite")
        if np.any(np.diff(timestamps) < 0):
            raise ValueError("timestamps must be in increasing order")
        object.__setattr__(self, "array", array)
        object.__setattr__(self, "timestamps", timestamps)
        if self.indices is not None:
            object.__setattr__(self, "indices", np.asarray(self.indices, dtype=np.int64).reshape(-1))
        if self.info is None:
            object.__setattr__(self, "info", _info_for_arrays(array, timestamps))

    def __len__(self) -> int:
        return int(self.array.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        return int(self.array.shape[2]), int(self.array.shape[1])


def _info_for_arrays(array: np.ndarray, timestamps: np.ndarray) -> VideoInfo:
    count = int(array.shape[0])
    step = float(np.median(np.diff(timestamps))) if count > 1 else 1.0
    step = step if step > 0 else 1.0
    return VideoInfo(
        path="<array>",
        duration=float(timestamps[-1] + step) if count else 0.0,
        num_frames=count,
        fps=1.0 / step,
        width=int(array.shape[2]),
        height=int(array.shape[1]),
        codec="raw",
        container="array",
        num_frames_exact=True,
    )
