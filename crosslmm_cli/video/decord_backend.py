"""The decord backend: runs inside the worker process (see `worker.py`), never in the CLI's.

decord2 3.4 is fast at opening a file (it demuxes every packet once and keeps pts and keyframes)
and at decoding a keyframe after a seek, which it verifies against the packet's pts. Its
accurate seek to other frames is not safe: it skips forward by counting frames in a polling
loop that gives up after 10,000 empty polls and then returns an earlier frame under the
requested index (seen on a 1-hour 720p file), and after seeking to an open-GOP keyframe its
counts are off by the leading pictures. So this backend only ever asks decord for keyframes,
and reaches other frames by stepping `next()` (which blocks until a frame arrives) from the
keyframe before them. Everything decord or libav prints while working is captured and
returned; the caller treats any complaint as "this result is not trustworthy".
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from crosslmm_cli.video.ffmpeg_binary import input_url
from crosslmm_cli.video.options import SamplingOptions
from crosslmm_cli.video.packet_index import FrameIndex
from crosslmm_cli.video.selection import select_frames


@contextlib.contextmanager
def captured_native_stderr() -> Iterator[list[str]]:
    """Redirect file descriptor 2 (where decord and libav log) into a buffer for the block."""
    lines: list[str] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            lines.extend(line.strip() for line in text.splitlines() if line.strip())


#: A one-frame 64x64 H.264 clip that `reads_width_correctly` decodes to test this decord build.
PROBE_CLIP = Path(__file__).with_name("decord-probe.mp4")
#: How far `readable_width` looks past the requested width (decord pads rows to 64 pixels).
_MAX_WIDTH_NUDGE = 64


@functools.lru_cache(maxsize=256)
def reads_width_correctly(width: int, height: int) -> bool:
    """Whether this decord build returns (height, width, 3) frames when asked for that size.

    Some decord2 3.4 builds pad each output row to 64 pixels and infer the channel count from
    the row bytes, so at widths like 16, 24, 32, 48, 96 or 144 they raise or return 4-12
    "channels"; other builds of the same version decode those widths right. Asked, not assumed:
    one decode of a bundled 2 KB clip (about 4 ms), once per size and worker.
    """
    import decord

    with captured_native_stderr():
        try:
            reader = decord.VideoReader(str(PROBE_CLIP), width=width, height=height, num_threads=1)
            shape = reader.get_batch([0]).asnumpy().shape
        except Exception:  # decord raises DECORDError (a RuntimeError) and, from its FFI, others
            return False
    return shape == (1, height, width, 3)


def readable_width(width: int, height: int) -> int:
    """`width`, or the nearest larger width of the same parity that this decord decodes correctly."""
    for candidate in range(width, width + _MAX_WIDTH_NUDGE + 1, 2):
        if reads_width_correctly(candidate, height):
            return candidate
    raise RuntimeError(f"decord decodes no width from {width} to {width + _MAX_WIDTH_NUDGE} at height {height}")


def frame_index(reader) -> FrameIndex:
    """decord's packet index as a FrameIndex (display order, seconds from the first frame)."""
    count = len(reader)
    times = reader.get_frame_timestamp(np.arange(count)).astype(np.float64)  # (N, 2) start, stop
    keyframe = np.zeros(count, dtype=bool)
    keyframe[np.asarray(reader.get_key_indices(), dtype=np.int64)] = True
    origin = float(times[0, 0])
    starts = times[:, 0] - origin
    last = float(times[-1, 1] - times[-1, 0])
    if last <= 0:
        last = float(np.median(np.diff(starts))) if count > 1 else 0.04
    return FrameIndex(pts=starts, keyframe=keyframe, end=float(starts[-1] + last))


def decode(reader, index: FrameIndex, targets: np.ndarray) -> np.ndarray:
    """Frames `targets` (increasing) as uint8 (T, H, W, 3): each from its keyframe, stepping
    forward with `next()`; a target in the GOP already being read continues from there."""
    keys = index.keyframe_before(targets)
    frames: list[np.ndarray] = []
    position = -1  # frame number of the last frame decord returned
    frame = None
    for target, key in zip(targets.tolist(), keys.tolist()):
        if not (key <= position < target):
            frame = reader.get_batch([key]).asnumpy()[0]
            position = key
        while position < target:
            frame = reader.next().asnumpy()
            position += 1
        frames.append(frame)
    return np.stack(frames)


def sample(path: str, width: int, height: int, options: SamplingOptions, *, keyframes_only: bool = False) -> dict:
    """Open, select and decode; returns plain data for the wire (arrays + facts + logs).

    The frames come at `width` unless this decord build cannot decode that width; then at the
    nearest width it can (`readable_width`), named in the result's "width".

    keyframes_only: decode only the chosen frames that are keyframes (decord's verified path)
    and return the others as `pending`, with the whole index, for ffmpeg to decode. Stepping
    through a GOP with `next()` converts every intermediate frame to RGB and grows decord's
    frame pools (600 MB for 32 exact frames of a 720p hour); ffmpeg's `select` drops them
    before conversion.
    """
    import decord

    width = readable_width(width, height)  # before the capture below: the probe's complaints are not this file's
    with captured_native_stderr() as log:
        # Keyframes are single frames: two decoder threads measured 25% less CPU than libav's
        # automatic count for 32 keyframes of a 720p hour; stepping through GOPs gains from more.
        threads = 2 if keyframes_only else 0
        reader = decord.VideoReader(input_url(path), width=width, height=height, num_threads=threads)
        try:
            index = frame_index(reader)
            selection = select_frames(index, options)
            chosen = selection.indices
            if keyframes_only:
                pending = chosen[~index.keyframe[chosen]]
                chosen = chosen[index.keyframe[chosen]]
            else:
                pending = chosen[:0]
            if chosen.size:
                array = decode(reader, index, chosen)
            else:
                array = np.zeros((0, height, width, 3), dtype=np.uint8)
        finally:
            del reader
    result = {
        "array": array,
        "width": width,  # what the frames were decoded at (may differ from the request, see readable_width)
        "timestamps": index.pts[chosen],
        "indices": chosen.astype(np.int64),
        "pending": pending.astype(np.int64),
        "num_frames": len(index),
        "end": index.end,
        "log": log[:20],  # any line at all means "do not trust this result"; a few say why
    }
    if pending.size:
        result["index_pts"] = index.pts
        result["index_keyframe"] = index.keyframe
    return result
