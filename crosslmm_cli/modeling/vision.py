"""Encoding frames with a SigLIP-family encoder, a chunk of frames at a time.

We run the encoder's embeddings and only the layers up to `vision_feature_layer` ourselves
instead of calling the vision model with `output_hidden_states=True`: that would keep every
layer's activations of every frame alive (27 x T x 729 x 1152 values) and compute layers whose
output is thrown away. Chunking over frames bounds activation memory for 256+ frame videos.
"""

from __future__ import annotations

import torch
from torch import nn


def patchify(pixel_values: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(F, C, H, W) -> (F, H/p * W/p, p*p*C): SigLIP2 NaFlex's patch layout (row-major, channels last)."""
    frames, channels, height, width = pixel_values.shape
    rows, cols = height // patch_size, width // patch_size
    x = pixel_values.reshape(frames, channels, rows, patch_size, cols, patch_size)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(frames, rows * cols, patch_size * patch_size * channels)


class FrameEncoder(nn.Module):
    """Wraps a `SiglipVisionModel` / `Siglip2VisionModel` and returns one layer's patch features."""

    def __init__(self, vision_tower: nn.Module, num_layers: int, chunk_size: int):
        super().__init__()
        self.vision_tower = vision_tower
        self.num_layers = num_layers
        self.chunk_size = chunk_size
        self.is_naflex = vision_tower.config.model_type == "siglip2_vision_model"

    def _encode_chunk(self, pixel_values: torch.Tensor) -> torch.Tensor:
        model = self.vision_tower.vision_model if hasattr(self.vision_tower, "vision_model") else self.vision_tower
        if self.is_naflex:
            patch = model.config.patch_size
            rows, cols = pixel_values.shape[-2] // patch, pixel_values.shape[-1] // patch
            spatial_shapes = torch.tensor([[rows, cols]], device=pixel_values.device).expand(pixel_values.shape[0], 2)
            hidden = model.embeddings(patchify(pixel_values, patch), spatial_shapes)
        else:
            hidden = model.embeddings(pixel_values)
        for layer in model.encoder.layers[: self.num_layers]:
            hidden = layer(hidden, None)  # every frame has all its patches: no attention mask
        return hidden

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(F, 3, H, W) -> (F, N, D_v), computed `chunk_size` frames at a time."""
        dtype = next(self.vision_tower.parameters()).dtype
        frames, step = pixel_values.shape[0], self.chunk_size
        first = self._encode_chunk(pixel_values[:step].to(dtype))
        if frames <= step:
            return first
        # Written into place chunk by chunk: a list of chunks plus torch.cat would hold the
        # features twice at the end (430 MB extra at 256 frames for SigLIP-so400m in 16-bit).
        features = first.new_empty((frames, *first.shape[1:]))
        features[:step] = first
        del first
        for start in range(step, frames, step):
            features[start : start + step] = self._encode_chunk(pixel_values[start : start + step].to(dtype))
        return features
