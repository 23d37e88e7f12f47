"""`crosslmm bench cache`: what the feature cache and the decode prefetch save, on a random CrossLMM.

1. Feature cache: a question about a video whose features are cached skips decoding and the
   vision encoder. Measures prepare+encode cold (decode + encode + cache write) and warm (cache
   read), median of --repeats runs.
2. Prefetch: `run_batch` decodes the next video while the model works on this one. Measures the
   wall time of a describe batch against the same work done serially (prepare, then process).

One measurement (a dict, a JSON line on the command line) per step. The model has a shape preset
(default `cpu-small`) with random weights: timings, not answers, matter here.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def build_checkpoint(directory: Path, shape: str) -> Path:
    from crosslmm_cli.modeling.random_checkpoint import save_random_checkpoint

    return save_random_checkpoint(directory, shape, tokens_per_frame=9)


def make_video(path: Path, seconds: int, pattern: str) -> Path:
    from crosslmm_cli.video import ffmpeg_executable

    subprocess.run([ffmpeg_executable(), "-v", "error", "-y", "-f", "lavfi", "-i", f"{pattern}=s=640x360:r=25", "-t", str(seconds),
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "50", str(path)], check=True)
    return path


@dataclass(frozen=True)
class CacheBenchOptions:
    frames: int = 32  # frames of the cached video
    videos: int = 6  # videos of the describe batch
    batch_frames: int = 8  # frames per video in the batch
    repeats: int = 3
    shape: str = "cpu-small"
    only: str | None = None  # "cache" or "batch": run one of the two measurements


def run_cache_benchmark(args: CacheBenchOptions) -> Iterator[dict[str, Any]]:
    """The feature-cache measurement, then the prefetch one (unless `only` names one)."""
    from crosslmm_cli.engine.inference import Engine
    from crosslmm_cli.engine.options import ModelOptions

    root = Path(tempfile.mkdtemp(prefix="crosslmm-bench-"))
    engine = Engine.load(str(build_checkpoint(root / "ckpt", args.shape)), ModelOptions(device="cpu"))
    if args.only != "batch":
        yield measure_cache(engine, root, args)
    if args.only != "cache":
        yield measure_batch(engine, root, args)


def measure_cache(engine, root: Path, args: CacheBenchOptions) -> dict[str, Any]:
    from crosslmm_cli.engine.feature_cache import FeatureCache
    from crosslmm_cli.engine.options import FrameOptions
    from crosslmm_cli.engine.pipeline import VideoPipeline

    frames = FrameOptions(num_frames=args.frames)
    video = make_video(root / "movie.mp4", 60, "testsrc2")

    cache = FeatureCache(root / "cache", max_bytes=10**10)
    cached = VideoPipeline(engine, frames, cache=cache, subtitles="off")
    cold, warm = [], []
    for _ in range(args.repeats):
        cache.clear()
        started = time.perf_counter()
        cached.encode(cached.prepare(str(video)))
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        cached.encode(cached.prepare(str(video)))
        warm.append(time.perf_counter() - started)
    return {"measure": "prepare+encode of one video", "frames": args.frames, "shape": args.shape,
            "cold_ms": round(1000 * statistics.median(cold)), "warm_ms": round(1000 * statistics.median(warm)),
            "cache_entry_mb": round(cache.info().size_bytes / 1e6, 1)}


def measure_batch(engine, root: Path, args: CacheBenchOptions) -> dict[str, Any]:
    from crosslmm_cli.batch import run_batch
    from crosslmm_cli.engine.options import FrameOptions, GenerationOptions
    from crosslmm_cli.engine.pipeline import VideoPipeline
    from crosslmm_cli.tasks import TaskRunner

    videos = [str(make_video(root / f"v{k}.mp4", 30, "testsrc" if k % 2 else "mandelbrot")) for k in range(args.videos)]
    frames = FrameOptions(num_frames=args.batch_frames)
    pipeline = VideoPipeline(engine, frames, cache=None, subtitles="off")
    runner = TaskRunner(pipeline, "describe", "Describe this video.", GenerationOptions(max_new_tokens=16))
    for path in videos[:1]:  # warm-up: first-call costs (decoder start, kernels) out of both timings
        runner(path, pipeline.prepare(path))
    serial, overlapped, prepare_s, process_s = [], [], [], []
    for _ in range(args.repeats):  # interleaved, so drifting machine load hits both alike
        started = time.perf_counter()
        for path in videos:
            t0 = time.perf_counter()
            prepared = pipeline.prepare(path)
            t1 = time.perf_counter()
            runner(path, prepared)
            prepare_s.append(t1 - t0)
            process_s.append(time.perf_counter() - t1)
        serial.append(time.perf_counter() - started)
        started = time.perf_counter()
        summary = run_batch(videos, task="describe", prepare=pipeline.prepare, process=runner)
        overlapped.append(time.perf_counter() - started)
        assert summary.done == len(videos)
    return {"measure": "describe batch", "videos": args.videos, "frames": args.batch_frames, "shape": args.shape,
            "load_average_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
            "torch_threads": __import__("torch").get_num_threads(),
            "decode_s_per_video": round(statistics.median(prepare_s), 2),
            "model_s_per_video": round(statistics.median(process_s), 2),
            "serial_s": round(statistics.median(serial), 2),
            "prefetch_s": round(statistics.median(overlapped), 2)}
