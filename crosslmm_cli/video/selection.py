"""Which frames to decode: a pure function of the frame index and the sampling options.

Both backends call `select_frames` on the same kind of index, so for the same file and request
they decode the same frames. Testable without any video.

Uniform sampling cuts the segment [start, end) into n equal bins and takes, from each bin, the
frame shown at the bin's centre. With `snap_to_keyframes`, a bin that contains a keyframe takes
the keyframe nearest its centre instead: decoding a keyframe needs one frame of work, any other
frame needs the whole run from the previous keyframe. The chosen frame never leaves its bin, so
coverage and order are kept, and the timestamp reported is always that frame's true time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crosslmm_cli.video.options import SamplingOptions
from crosslmm_cli.video.packet_index import FrameIndex, time_tolerance


class SegmentOutOfRange(ValueError):
    """The requested start lies at or after the end of the video."""


@dataclass(frozen=True, eq=False)
class Selection:
    """indices: int64 (T,) frame numbers in display order, strictly increasing.
    targets: float64 (T,) the time each frame was chosen for (a bin centre or a requested time).
    segment: (start, end) seconds actually covered."""

    indices: np.ndarray
    targets: np.ndarray
    segment: tuple[float, float]


def frame_count(options: SamplingOptions, segment_seconds: float) -> int:
    """How many frames a uniform request asks for (before de-duplication)."""
    if options.num_frames is not None:
        return options.num_frames
    if options.fps is not None:
        return int(min(options.max_frames, max(1, round(segment_seconds * options.fps))))
    return options.max_frames


def select_frames(index: FrameIndex, options: SamplingOptions) -> Selection:
    """Frames to decode for `options`; raises `SegmentOutOfRange` for a start past the end."""
    if options.times is not None:
        times = np.sort(np.asarray(options.times, dtype=np.float64))
        if times[0] >= index.end:
            raise SegmentOutOfRange(f"time {times[0]:g} s is past the end ({index.end:.3f} s)")
        times = times[times < index.end]
        indices = index.frame_at(times)
        keep = np.concatenate([[True], np.diff(indices) > 0])
        return Selection(indices[keep], times[keep], (float(times[0]), float(times[-1])))

    start = float(options.start or 0.0)
    end = float(min(options.end, index.end) if options.end is not None else index.end)
    if start >= index.end:
        raise SegmentOutOfRange(f"start {start:g} s is past the end ({index.end:.3f} s)")
    count = frame_count(options, end - start)
    width = (end - start) / count
    centres = start + (np.arange(count) + 0.5) * width
    indices = index.frame_at(centres)
    if options.snap_to_keyframes:
        indices = _snap(index, indices, centres, start, width)
    # Bins shorter than a frame pick the same frame: keep each frame once (order is monotone).
    keep = np.concatenate([[True], np.diff(indices) > 0])
    return Selection(indices[keep], centres[keep], (start, end))


def _snap(index: FrameIndex, indices: np.ndarray, centres: np.ndarray, start: float, width: float) -> np.ndarray:
    key_positions = np.flatnonzero(index.keyframe)
    if key_positions.size == 0:
        return indices
    key_times = index.pts[key_positions]
    lows = start + np.arange(centres.size) * width
    slack = time_tolerance(lows)
    first = np.searchsorted(key_times, lows - slack, side="left")
    last = np.searchsorted(key_times, lows + width - slack, side="left")  # exclusive
    snapped = indices.copy()
    for i in np.flatnonzero(last > first):
        distance = np.abs(key_times[first[i] : last[i]] - centres[i])
        # Equidistant keyframes (a centre halfway between two) resolve to the earlier one.
        best = int(np.flatnonzero(distance <= distance.min() + time_tolerance(centres[i]))[0])
        snapped[i] = key_positions[first[i] + best]
    return snapped
