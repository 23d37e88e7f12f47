"""Frames to vision-encoder features: the one place a video meets the encoder, for every command.

`crosslmm ask` (through `Engine.encode`), `eval`, and the distillation teacher all call
`encode_frames`: the checkpoint's image processor resizes and normalises the uint8 frames on the
model's device (on a GPU only the small uint8 frames cross the bus), the pixels take the model's
compute dtype, and the encoder runs without autograd. `encode_pixels` is the second half, for
frames a training frame cache already holds as the image processor's tiles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch


def compute_dtype(model: Any) -> torch.dtype:
    """The compute dtype: that of the input embeddings (never quantized)."""
    return model.get_input_embeddings().weight.dtype


def encode_pixels(model: Any, pixels: torch.Tensor) -> torch.Tensor:
    """Image-processor output, float32 (T, 3, S, S) -> encoder features (T, N, D_v) on the model's device."""
    import torch

    with torch.no_grad():
        return model.get_video_features(pixels.to(model.device, dtype=compute_dtype(model))[None])[0]


def encode_frames(model: Any, processor: Any, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 frames (T, H, W, 3), as decoded -> encoder features (T, N, D_v) on the model's device."""
    return encode_pixels(model, processor.image_processor(frames, device=model.device))
