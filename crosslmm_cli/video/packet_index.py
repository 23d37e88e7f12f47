"""The video packet index: presentation time and keyframe flag of every frame, without decoding.

ffmpeg lists packets with `-c copy -f framecrc` (demuxing only: no decode). Packets arrive in
decode order; sorting by pts gives display order, which is what frame numbers and timestamps mean
everywhere in this package. `FrameIndex` is also what the pure frame selection works on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from crosslmm_cli.video.ffmpeg_binary import LOCAL_ONLY, input_url, run_ffmpeg

_NOPTS = -(2**63)
_TB = re.compile(r"^#tb 0: (\d+)/(\d+)", re.M)
_PACKET = re.compile(
    r"^\s*0,\s*(-?\d+|NOPTS),\s*(-?\d+|NOPTS),\s*(-?\d+),\s*(\d+),\s*0x[0-9a-fA-F]+(.*)$", re.M
)
_FLAGS = re.compile(r"F=0x([0-9a-fA-F]+)")
_KEY_FLAG, _DISCARD_FLAG = 0x1, 0x4


@dataclass(frozen=True, eq=False)
class PacketList:
    """Video packets in decode (file) order. pts/dts/duration are in units of `time_base`."""

    pts: np.ndarray  # int64 (P,), _NOPTS where unknown
    dts: np.ndarray  # int64 (P,)
    duration: np.ndarray  # int64 (P,)
    flags: np.ndarray  # int64 (P,) AV_PKT_FLAG_* bits
    time_base: float  # seconds per unit

    def __len__(self) -> int:
        return int(self.pts.shape[0])


@dataclass(frozen=True, eq=False)
class FrameIndex:
    """Frames in display order.

    pts: float64 (N,) seconds from the first frame (pts[0] == 0). keyframe: bool (N,).
    end: seconds at which the last frame stops being shown (the video's duration).
    origin: absolute pts (s) of the first frame, to convert back to the file's own clock.
    """

    pts: np.ndarray
    keyframe: np.ndarray
    end: float
    origin: float = 0.0

    def __post_init__(self) -> None:
        pts = np.asarray(self.pts, dtype=np.float64)
        keyframe = np.asarray(self.keyframe, dtype=bool)
        if pts.ndim != 1 or pts.shape != keyframe.shape or pts.size == 0:
            raise ValueError("FrameIndex needs matching, non-empty 1-D pts and keyframe arrays")
        if np.any(np.diff(pts) <= 0):
            raise ValueError("FrameIndex pts must be strictly increasing")
        object.__setattr__(self, "pts", pts)
        object.__setattr__(self, "keyframe", keyframe)

    def __len__(self) -> int:
        return int(self.pts.shape[0])

    @classmethod
    def regular(cls, num_frames: int, fps: float, keyframe_interval: int | None = None) -> FrameIndex:
        """A constant-frame-rate index (for images, arrays and tests)."""
        pts = np.arange(num_frames, dtype=np.float64) / fps
        keyframe = np.ones(num_frames, dtype=bool)
        if keyframe_interval:
            keyframe = np.arange(num_frames) % keyframe_interval == 0
        return cls(pts=pts, keyframe=keyframe, end=num_frames / fps)

    def frame_at(self, times: np.ndarray) -> np.ndarray:
        """Index of the frame shown at each time (the last frame whose pts <= t).

        A frame starting within `time_tolerance(t)` after t counts as shown at t, so that exact
        ties (common: bin centres of CFR video fall on frame starts) break the same way for
        decord's float32 timestamps as for ffmpeg's exact ones.
        """
        times = np.asarray(times, dtype=np.float64)
        positions = np.searchsorted(self.pts, times + time_tolerance(times), side="right") - 1
        return np.clip(positions, 0, len(self) - 1)

    def keyframe_before(self, indices: np.ndarray) -> np.ndarray:
        """Index of the nearest keyframe at or before each frame index (0 when none)."""
        key_positions = np.flatnonzero(self.keyframe)
        if key_positions.size == 0:
            return np.zeros_like(np.asarray(indices))
        slot = np.searchsorted(key_positions, np.asarray(indices), side="right") - 1
        return np.where(slot >= 0, key_positions[np.clip(slot, 0, None)], 0)


def time_tolerance(times):
    """Seconds within which two times are the same instant: above float32 rounding (decord's
    timestamps are float32: 0.43 ms at 2 hours), far below a frame interval."""
    return 1e-6 + 1e-7 * np.abs(times)


def parse_framecrc(text: str) -> PacketList:
    """Parse ffmpeg's framecrc output for stream 0 (the only mapped stream).

    Streams through the text into preallocated arrays: an hour at 30 fps is 108,000 lines, and
    a list of per-line string tuples would cost ~30 MB where the arrays take 3.5 MB.
    """
    tb = _TB.search(text)
    time_base = int(tb.group(1)) / int(tb.group(2)) if tb else 1.0
    capacity = text.count("\n") + 1
    pts = np.empty(capacity, dtype=np.int64)
    dts = np.empty(capacity, dtype=np.int64)
    duration = np.empty(capacity, dtype=np.int64)
    flags = np.empty(capacity, dtype=np.int64)
    count = 0
    for match in _PACKET.finditer(text):
        dts_text, pts_text, dur_text, _size, rest = match.groups()
        dts[count] = _NOPTS if dts_text == "NOPTS" else int(dts_text)
        pts[count] = _NOPTS if pts_text == "NOPTS" else int(pts_text)
        duration[count] = int(dur_text)
        flag = _FLAGS.search(rest) if rest else None
        flags[count] = int(flag.group(1), 16) if flag else _KEY_FLAG
        count += 1
    return PacketList(
        pts=pts[:count].copy(), dts=dts[:count].copy(), duration=duration[:count].copy(),
        flags=flags[:count].copy(), time_base=time_base,
    )  # fmt: skip


def frame_index_from_packets(packets: PacketList) -> FrameIndex | None:
    """Display-order index from decode-order packets; None when no packet has a usable time."""
    pts = np.where(packets.pts == _NOPTS, packets.dts, packets.pts)
    shown = (pts != _NOPTS) & ((packets.flags & _DISCARD_FLAG) == 0)
    if not np.any(shown):
        return None
    pts, keyframe = pts[shown], (packets.flags[shown] & _KEY_FLAG) != 0
    duration = packets.duration[shown]
    order = np.argsort(pts, kind="stable")
    pts, keyframe, duration = pts[order], keyframe[order], duration[order]
    unique = np.concatenate([[True], np.diff(pts) > 0])  # a repeated pts is one displayed frame
    pts, keyframe, duration = pts[unique], keyframe[unique], duration[unique]
    seconds = pts.astype(np.float64) * packets.time_base
    origin = float(seconds[0])
    relative = seconds - origin
    last = float(duration[-1]) * packets.time_base
    if last <= 0:
        last = float(np.median(np.diff(relative))) if relative.size > 1 else 0.04
    return FrameIndex(pts=relative, keyframe=keyframe, end=float(relative[-1] + last), origin=origin)


def list_packets(path: str, *, timeout_s: float, max_packets: int | None = None) -> tuple[PacketList, str, bool]:
    """Demux the video stream of `path`: (packets, ffmpeg's stderr, timed_out).

    Only the main video stream is read (`V`: no cover art); nothing is decoded.
    """
    args = ["-copyts", *LOCAL_ONLY, "-i", input_url(path), "-map", "0:V:0?", "-an", "-sn", "-dn", "-c", "copy"]
    if max_packets is not None:
        args += ["-frames:v", str(max_packets)]
    args += ["-f", "framecrc", "-"]
    done = run_ffmpeg(args, timeout_s=timeout_s)
    return parse_framecrc(done.stdout.decode("ascii", "replace")), done.stderr, done.timed_out


def gop_is_closed(packets: PacketList, *, reorder_margin: int = 16) -> bool:
    """True when every keyframe seen is a clean cut: no later packet is shown before it.

    Open GOPs (HEVC CRA with leading pictures, x264 --open-gop, MPEG-2) and edit-list discards
    make decoders that count frames after a seek (decord) return the wrong frame; they go to ffmpeg.
    """
    if len(packets) == 0:
        return False
    if np.any(packets.pts == _NOPTS) or np.any(packets.flags & _DISCARD_FLAG):
        return False
    keys = np.flatnonzero(packets.flags & _KEY_FLAG)
    checkable = keys[keys < len(packets) - reorder_margin] if len(packets) > reorder_margin else keys
    for position in checkable:
        shown_before = int(np.count_nonzero(packets.pts < packets.pts[position]))
        if shown_before != position:
            return False
    return True
