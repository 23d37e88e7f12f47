"""`crosslmm bench preprocess`: throughput and peak memory of CrossLMMImageProcessor on long,
full-resolution videos.

Each configuration runs in a fresh subprocess so its peak RSS is its own; one result (a dict, a
JSON line on the command line) per configuration.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator

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


def run_preprocess_benchmark(frames: int = 256, height: int = 1080, width: int = 1920, size: int = 384) -> Iterator[dict]:
    """`run_one` for every configuration, each in a fresh Python process."""
    for index in range(len(CONFIGS)):
        code = ("import json, sys; from crosslmm_cli.bench.preprocess import CONFIGS, run_one; "
                f"print(json.dumps(run_one(CONFIGS[{index}], {frames}, {height}, {width}, {size})))")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"{CONFIGS[index]['name']}: {(result.stderr.strip().splitlines() or ['failed'])[-1]}")
        yield json.loads(result.stdout)
