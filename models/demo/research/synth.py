"""Measure the synthetic world: how fast datasets are written, how large they are, and how much
of a dot survives each pooling of a 64x64 frame (1x1 = 1 token per frame, 4x4 = 16 tokens,
8x8 = the encoder's full grid that cross-attention reads).

    PYTHONPATH=models/demo python -m research.synth --n 200 --out bench-out/synth

Prints a plain-text report; every figure in docs/synthetic-world.md comes from it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from crosslmm_cli.synthetic import WorldConfig, ffmpeg_executable, generate_clip, read_clips, render_clip, write_dataset, write_mp4
from crosslmm_cli.synthetic.render import render_scene_frame


def area_pool(frame: np.ndarray, grid: int) -> np.ndarray:
    h = frame.shape[0] // grid
    return frame.astype(np.float64).reshape(grid, h, grid, h, 3).mean(axis=(1, 3))


def decode(path: Path, size: int) -> np.ndarray:
    cmd = [ffmpeg_executable(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    return np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, np.uint8).reshape(-1, size, size, 3)


def bench_write(out: Path, n: int, seed: int) -> None:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    files = write_dataset(out, n, seed=seed)
    elapsed = time.perf_counter() - start
    clips = sum(f.n_clips + f.n_novel_clips for f in files.values())
    mp4 = [p.stat().st_size for f in files.values() for p in (f.root / "videos").glob("*.mp4")]
    print(f"write_dataset: {clips} clips (n={n} per split, plus novel eval clips) in {elapsed:.1f} s = {clips / elapsed:.1f} clips/s")
    for f in files.values():
        novel = f" (+{f.n_novel_clips} novel clips, {f.n_novel_records} records)" if f.novel_questions else ""
        print(f"  {f.split}: {f.n_records} records{novel}, {f.n_chapter_clips} chapter clips, {f.questions.stat().st_size / 1e6:.2f} MB text")
    print(f"  mp4 size: mean {np.mean(mp4) / 1e3:.1f} kB, max {max(mp4) / 1e3:.1f} kB, total {sum(mp4) / 1e6:.1f} MB")

    config = WorldConfig()
    clip = generate_clip(seed, "train", 0, config)
    t0 = time.perf_counter()
    for _ in range(20):
        frames = render_clip(clip, config)
    t1 = time.perf_counter()
    for _ in range(20):
        write_mp4(frames, out / "timing.mp4", config.fps)
    t2 = time.perf_counter()
    print(f"  one {clip.duration:.0f} s clip ({len(frames)} frames): render {(t1 - t0) / 20 * 1e3:.1f} ms, encode {(t2 - t1) / 20 * 1e3:.1f} ms")

    errors, mean_shift = [], []
    for video, spec in read_clips(files["eval"].clips)[:50]:
        decoded, rendered = decode(files["eval"].root / video, config.frame_size), render_clip(spec, config)
        errors.append(np.abs(decoded.astype(int) - rendered.astype(int)).mean())
        mean_shift += [np.abs(area_pool(d, 1) - area_pool(r, 1)).max() for d, r in zip(decoded, rendered)]
    print(f"  codec: mean |decoded - rendered| {np.mean(errors):.2f} levels; 1x1 mean moved by codec: median {np.median(mean_shift):.2f}, max {max(mean_shift):.2f}")


def bench_pooling(n: int, seed: int) -> None:
    """Each single-scene clip with dots against the same scene without them (64x64 frames)."""
    config = WorldConfig()
    rows = {1: [], 4: [], 8: []}
    for i in range(n):
        clip = generate_clip(seed, "train", i, config)
        scene = clip.scenes[0]
        if len(clip.scenes) > 1 or not scene.dots:
            continue
        with_dots = area_pool(render_scene_frame(scene, 0.0, config), 64)
        no_dots = area_pool(render_scene_frame(replace(scene, things=scene.objects), 0.0, config), 64)
        for grid in rows:
            rows[grid].append(np.abs(area_pool(with_dots, grid) - area_pool(no_dots, grid)).max())
    print(f"dots vs no dots, {len(rows[1])} scenes, largest change of a pooled cell (RGB levels of 255):")
    for grid, diffs in rows.items():
        print(f"  {grid}x{grid} ({grid * grid:>2} tokens): min {min(diffs):6.2f}  median {np.median(diffs):6.2f}  max {max(diffs):6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="clips per split to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench-out/synth"))
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    bench_write(args.out, args.n, args.seed)
    bench_pooling(300, args.seed)


if __name__ == "__main__":
    main()
