"""The ffmpeg backend: decode chosen frames with the ffmpeg executable, in child processes.

Chosen frames are grouped into runs. A run is one ffmpeg process that seeks (input `-ss`,
which decodes from the keyframe before the seek point up to the exact frame) and then decodes
forward, letting a `select` filter pass only the chosen frames, already scaled to the output
size, to a raw RGB pipe. A new run starts where seeking again is cheaper than decoding through
the gap. `showinfo` reports the pts of every frame that comes out, so the timestamps returned
are the ones ffmpeg decoded, not the ones asked for. Runs go in parallel, one per core.
"""

from __future__ import annotations

import math
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from crosslmm_cli.video.ffmpeg_binary import LOCAL_ONLY, input_url, problem_lines, run_ffmpeg
from crosslmm_cli.video.packet_index import FrameIndex

#: Cost of starting one ffmpeg process, in seconds (2-core AMD EPYC, imageio-ffmpeg 9.0.2).
PROCESS_COST_S = 0.04
#: Decode throughput estimate, pixels per second, for the run-splitting cost model.
DECODE_PIXELS_PER_S = 250e6

_SHOWINFO_TB = re.compile(r"showinfo.*config in time_base: (\d+)/(\d+)")
_SHOWINFO_FRAME = re.compile(r"showinfo.*\bn:\s*(\d+)\s+pts:\s*(-?\d+)\s")
_MISSING_DECODER = re.compile(r"Decoder \(codec [^)]*\) not found|No decoder for|Unsupported codec", re.I)


class FFmpegDecodeError(RuntimeError):
    """ffmpeg produced no frame; `stderr_tail` says why."""

    def __init__(self, message: str, stderr_tail: str = "", unsupported_codec: bool = False) -> None:
        super().__init__(message)
        self.stderr_tail = stderr_tail
        self.unsupported_codec = unsupported_codec


class FFmpegTimeout(RuntimeError):
    pass


@dataclass(frozen=True, eq=False)
class Decoded:
    """Frames one backend produced: array (T,H,W,3) uint8, timestamps (T,) seconds from the
    first frame, indices (T,) frame numbers, plus decoder complaints."""

    array: np.ndarray
    timestamps: np.ndarray
    indices: np.ndarray
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Run:
    targets: tuple[int, ...]  # frame numbers, increasing


def plan_runs(index: FrameIndex, indices: np.ndarray, pixels: int) -> list[_Run]:
    """Group frame numbers into ffmpeg runs: continue decoding forward while that costs less
    than a fresh process plus the decode from the next frame's keyframe."""
    if len(indices) == 0:
        return []
    frame_cost = max(pixels, 1) / DECODE_PIXELS_PER_S
    seek_in_frames = PROCESS_COST_S / frame_cost
    keyframes = index.keyframe_before(indices)
    runs: list[list[int]] = [[int(indices[0])]]
    for previous, current, key in zip(indices[:-1], indices[1:], keyframes[1:]):
        continue_cost = current - previous
        restart_cost = seek_in_frames + (current - key + 1)
        if continue_cost <= restart_cost:
            runs[-1].append(int(current))
        else:
            runs.append([int(current)])
    return [_Run(tuple(run)) for run in runs]


def decode_frames(
    path: str,
    index: FrameIndex,
    indices: np.ndarray,
    out_size: tuple[int, int],
    *,
    container_start: float,
    source_pixels: int,
    timeout_s: float,
    max_parallel: int | None = None,
) -> Decoded:
    """Decode frames `indices` of `path` at `out_size` (w, h). `source_pixels` (stored width x
    height) feeds the cost model. Frames that cannot be decoded (truncated file) are missing from
    the result; raises FFmpegDecodeError when none is left."""
    runs = plan_runs(index, indices, source_pixels)
    deadline = time.monotonic() + timeout_s
    workers = max(1, min(len(runs), max_parallel or os.cpu_count() or 1))
    threads_per_run = None if workers == 1 else 1

    def run(one: _Run, margin_s: float = 0.0) -> tuple[np.ndarray, np.ndarray, str]:
        return _decode_run(path, index, one, out_size, container_start, deadline, threads_per_run, margin_s)

    if workers == 1:
        results = [run(one) for one in runs]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run, runs))
    # Seeking can overshoot (MPEG-TS has no index; open GOPs): frames that did not come out are
    # tried once more from well before their keyframe. What is still missing is undecodable.
    got = set(index.frame_at(np.concatenate([pts for _, pts, _ in results]) - index.origin).tolist()) if results else set()
    missing = np.array([i for i in indices.tolist() if i not in got], dtype=np.int64)
    if missing.size:
        keyframe = index.keyframe_before(missing[:1])[0]
        earlier = index.keyframe_before(np.array([max(keyframe - 1, 0)]))[0]
        margin = float(index.pts[missing[0]] - index.pts[earlier]) + 1.0
        results.append(run(_Run(tuple(missing.tolist())), margin))
    arrays = [frames for frames, _, _ in results if len(frames)]
    stamps = [pts for _, pts, _ in results if len(pts)]
    stderr = "\n".join(text for _, _, text in results)
    problems = tuple(problem_lines(stderr))
    if not arrays:
        raise FFmpegDecodeError(
            "ffmpeg decoded no frame", stderr_tail=_tail(stderr), unsupported_codec=bool(_MISSING_DECODER.search(stderr))
        )
    array = np.concatenate(arrays)
    absolute = np.concatenate(stamps)
    timestamps = absolute - index.origin
    order = np.argsort(timestamps, kind="stable")
    array, timestamps = array[order], timestamps[order]
    keep = np.concatenate([[True], np.diff(timestamps) > 1e-9])
    array, timestamps = array[keep], timestamps[keep]
    return Decoded(array=array, timestamps=timestamps, indices=index.frame_at(timestamps), problems=problems)


def _decode_run(
    path: str,
    index: FrameIndex,
    run: _Run,
    out_size: tuple[int, int],
    container_start: float,
    deadline: float,
    threads: int | None,
    margin_s: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, str]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FFmpegTimeout("time limit reached before all frames were decoded")
    seek = _seek_point(index, run.targets[0], margin_s) - container_start
    tolerance = 0.25 * _min_gap(index)
    wanted = [index.origin + index.pts[t] for t in run.targets]
    select = "+".join(f"lt(abs(t-{t:.6f})\\,{tolerance:.6f})" for t in wanted)
    width, height = out_size
    args = ["-v", "info", "-copyts", *LOCAL_ONLY]
    if threads:
        args += ["-threads", str(threads)]
    if seek > 0:
        args += ["-ss", f"{math.floor(seek * 1e6) / 1e6:.6f}"]
    args += [
        "-i", input_url(path), "-map", "0:V:0", "-an", "-sn", "-dn",
        "-vf", f"select='{select}',scale={width}:{height},showinfo=checksum=0",
        "-frames:v", str(len(run.targets)), "-fps_mode", "passthrough",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
    ]  # fmt: skip
    done = run_ffmpeg(args, timeout_s=remaining)
    if done.timed_out:
        raise FFmpegTimeout(f"ffmpeg run for {len(run.targets)} frame(s) exceeded the time limit")
    frame_bytes = width * height * 3
    count = len(done.stdout) // frame_bytes
    pts = _showinfo_times(done.stderr)
    count = min(count, len(pts))
    frames = np.frombuffer(done.stdout[: count * frame_bytes], dtype=np.uint8).reshape(count, height, width, 3)
    return frames.copy(), np.asarray(pts[:count], dtype=np.float64), done.stderr


def _seek_point(index: FrameIndex, target: int, margin_s: float) -> float:
    """Input -ss for a run starting at frame `target`, in the file's clock.

    ffmpeg's accurate seek decodes from the last keyframe at or before the point and keeps frames
    with pts >= the point. A keyframe target seeks exactly to itself (rounded down to the
    microsecond -ss resolution: one frame decoded); any other target a quarter frame early, so
    rounding can never drop it.
    """
    time_of = index.origin + float(index.pts[target])
    if margin_s > 0:
        return max(0.0, time_of - margin_s)
    if index.keyframe[target] or target == 0:
        return time_of
    return time_of - 0.25 * float(index.pts[target] - index.pts[target - 1])


def _showinfo_times(stderr: str) -> list[float]:
    base = _SHOWINFO_TB.search(stderr)
    if not base:
        return []
    seconds_per_tick = int(base.group(1)) / int(base.group(2))
    return [int(match.group(2)) * seconds_per_tick for match in _SHOWINFO_FRAME.finditer(stderr)]


def _min_gap(index: FrameIndex) -> float:
    if len(index) < 2:
        return 0.04
    return float(max(np.min(np.diff(index.pts)), 1e-4))


def _tail(stderr: str, lines: int = 3) -> str:
    useful = [line.strip() for line in stderr.splitlines() if line.strip() and "showinfo" not in line]
    return " | ".join(useful[-lines:])
