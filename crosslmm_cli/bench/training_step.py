"""`crosslmm bench train-step`: time of one training step (forward, backward, AdamW) of a small
CrossLMM on CPU, by thread count, and of loading a clip's frames from the frame cache versus
decoding it.

Reports medians; the machine's load average too, since other processes on the same cores change
thread-count results the most.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from crosslmm_cli.engine.options import FrameOptions
from crosslmm_cli.modeling import CrossLMMForConditionalGeneration
from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor, ImageProcessorConfig
from crosslmm_cli.modeling.shapes import config_for_shape
from crosslmm_cli.training.frame_cache import FrameLoader


def step_times(shape: str, frames: int, batch: int, steps: int, threads: int) -> list[float]:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = config_for_shape(shape)
    model = CrossLMMForConditionalGeneration(config).train()
    size = config.vision_image_size
    prompt = 120  # text tokens around the video, as a real prompt has
    video_tokens = config.video_placeholder_length(frames)
    ids = torch.randint(0, config.video_token_id, (batch, prompt + video_tokens))
    ids[:, 10 : 10 + video_tokens] = config.video_token_id
    pixels = torch.randn(batch, frames, 3, size, size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for index in range(steps + 3):
        start = time.perf_counter()
        loss = model(input_ids=ids, pixel_values_videos=pixels, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if index >= 3:  # warm-up steps excluded
            times.append(time.perf_counter() - start)
    return times


def cache_times(frames: int) -> tuple[float, float]:
    import imageio_ffmpeg

    folder = Path(tempfile.mkdtemp())
    video = folder / "clip.mp4"
    writer = imageio_ffmpeg.write_frames(str(video), (256, 256), fps=8, macro_block_size=1, ffmpeg_log_level="error")
    writer.send(None)
    rng = np.random.default_rng(0)
    for _ in range(64):
        writer.send(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8))
    writer.close()
    processor = CrossLMMImageProcessor(ImageProcessorConfig(height=384, width=384))
    decode = FrameLoader(processor, FrameOptions(num_frames=frames))
    cached = FrameLoader(processor, FrameOptions(num_frames=frames), cache_dir=folder / "cache")
    cached.load(video)
    decode_s = statistics.median(_timed(lambda: decode.load(video)) for _ in range(5))
    cached_s = statistics.median(_timed(lambda: cached.load(video)) for _ in range(5))
    return decode_s, cached_s


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_training_step_benchmark(shape: str = "tiny", frames: int = 4, batch: int = 4, steps: int = 20) -> Iterator[str]:
    """One line per measurement: step time at 1 thread and at every core, then the frame cache."""
    yield f"load average before: {os.getloadavg()[0]:.2f}; cores: {os.cpu_count()}"
    for threads in (1, os.cpu_count() or 1):
        times = step_times(shape, frames, batch, steps, threads)
        yield (f"{shape}: {threads} thread(s): median step {1000 * statistics.median(times):.1f} ms "
               f"(batch {batch}, {frames} frames)")
    decode_s, cached_s = cache_times(8)
    yield f"8 frames of a 256x256 clip at 384x384: decode {1000 * decode_s:.1f} ms, from the frame cache {1000 * cached_s:.1f} ms"
    yield f"load average after: {os.getloadavg()[0]:.2f}"
