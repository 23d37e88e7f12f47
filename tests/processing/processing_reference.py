"""Reference arithmetic and data for the processing tests, independent of the code under test.

`data/*.json` hold preprocessor configs as published on the Hugging Face hub for
llava-hf/llava-onevision-qwen2-*-ov-hf, google/siglip-so400m-patch14-384 and
openai/clip-vit-large-patch14-336 (written out here: tests never download).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

DATA = Path(__file__).parent / "data"

CORPUS = [
    "A red ball moves left at 1.50s and stops at 3.00s.",
    "The blue square stays in the middle of the frame.",
    "How many circles appear in the video? Three circles appear.",
    "What happens at the end? The green triangle leaves the frame.",
    "The video lasts for 12.00 seconds, and 8 frames are uniformly sampled from it.",
    "These frames are located at 0.00s,1.50s,3.00s. Please answer the following questions.",
] * 5


def structured_image(height: int, width: int) -> np.ndarray:
    """Gradients, a fine checkerboard and hard edges: what natural frames have, in small."""
    yy, xx = np.mgrid[0:height, 0:width]
    red = xx * 255 // max(width - 1, 1)
    green = yy * 255 // max(height - 1, 1)
    blue = ((xx // 3 + yy // 2) % 2) * 255
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def pil_resize(frame: np.ndarray, size: tuple[int, int], resample: int) -> np.ndarray:
    """PIL's resize of one (H,W,3) uint8 frame to size=(height, width), horizontal pass first.

    Two single-axis `Image.resize` calls are exactly one call of Pillow <= 12, which always ran
    the horizontal pass first (each pass rounded to uint8). Pillow 13 runs the vertical pass first
    when the height shrinks much more than the width (python-pillow/Pillow#9549), which moves
    some pixels by a few levels; torch, torchvision and older Pillow keep horizontal first.
    """
    height, width = size
    image = Image.fromarray(frame)
    if image.width != width:
        image = image.resize((width, image.height), resample=resample)
    if image.height != height:
        image = image.resize((width, height), resample=resample)
    return np.asarray(image)


def reference_preprocess(frames: np.ndarray, size: tuple[int, int] | None, resample: int,
                         rescale: float, mean, std) -> np.ndarray:
    """PIL resize + numpy rescale/normalize, float64, (T,3,H,W): the arithmetic done independently."""
    out = []
    for frame in frames:
        pixels = pil_resize(frame, size, resample) if size is not None else frame
        x = pixels.astype(np.float64) * rescale
        x = (x - np.asarray(mean, dtype=np.float64)) / np.asarray(std, dtype=np.float64)
        out.append(x.transpose(2, 0, 1))
    return np.stack(out)
