"""Throughput and peak memory of CrossLMMImageProcessor on long, full-resolution videos.

Each configuration runs in a fresh subprocess so its peak RSS is its own. Usage:
    python -m crosslmm_cli.bench.image_processing [--frames 256] [--height 1080] [--width 1920]
Prints one JSON line per configuration.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CONFIGS = [
    {"name": "torch uint8 kernel (CPU default)", "kernel": "uint8", "chunk": 16},
    {"name": "torch uint8 kernel, chunk 64", "kernel": "uint8", "chunk": 64},
    {"name": "torch float two-pass (CUDA path, run on CPU)", "kernel": "float", "chunk": 16},
    {"name": "PIL per frame + numpy (reference)", "kernel": "pil", "chunk": 16},
]


def run_one(config: dict, frames: int, height: int, width: int, size: int) -> dict:
    import numpy as np
    import torch

    from crosslmm_cli.modeling import image_processing
    from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor, ImageProcessorConfig

    video = np.random.default_rng(0).integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    processor = CrossLMMImageProcessor(ImageProcessorConfig(height=size, width=size), chunk_size=config["chunk"])
    if config["kernel"] == "pil":
        from PIL import Image

        def work():
            mean = np.float32(0.5)
            out = np.empty((frames, 3, size, size), np.float32)
            for i, frame in enumerate(video):
                x = np.asarray(Image.fromarray(frame).resize((size, size), 3), dtype=np.float32) / 255
                out[i] = ((x - mean) / mean).transpose(2, 0, 1)
            return out
    else:
        original = image_processing.resize_uint8

        def forced(chunk, target, resample):
            return original(chunk, target, resample, kernel=config["kernel"])

        image_processing.resize_uint8 = forced

        def work():
            return processor(video)

    work()  # warm-up (allocator, thread pool)
    start = time.perf_counter()
    out = work()
    seconds = time.perf_counter() - start
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        **config,
        "frames": frames,
        "input": f"{height}x{width}",
        "output": tuple(out.shape),
        "seconds": round(seconds, 3),
        "ms_per_frame": round(1000 * seconds / frames, 2),
        "peak_rss_above_input_MiB": round((peak_rss - base_rss) / 1024, 1),
        "output_MiB": round(out.nbytes / 2**20 if hasattr(out, "nbytes") else out.numel() * 4 / 2**20, 1),
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=256)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(CONFIGS[args.one], args.frames, args.height, args.width, args.size)))
        return
    for index in range(len(CONFIGS)):
        command = [sys.executable, __file__, "--one", str(index)] + sys.argv[1:]
        print(subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
