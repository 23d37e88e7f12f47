"""Pooling a frame's patch grid to a smaller square grid.

"area" is adaptive average pooling: non-overlapping aggregation, what the paper describes, and the
only sensible choice at 1 token per frame. "bilinear" reproduces LLaVA-OneVision's video pooling
exactly (`F.interpolate(..., mode="bilinear")`, exact for its 27 -> 14 grid).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def pool_grid(tokens: torch.Tensor, grid: int, side: int, mode: str) -> torch.Tensor:
    """(frames, grid*grid, D) -> (frames, side*side, D), row-major over the grid."""
    frames, num_tokens, dim = tokens.shape
    if num_tokens != grid * grid:
        raise ValueError(f"expected {grid}x{grid}={grid * grid} tokens per frame, got {num_tokens}")
    if side == grid:
        return tokens
    x = tokens.view(frames, grid, grid, dim).permute(0, 3, 1, 2).contiguous()  # (F, D, g, g)
    if mode == "area":
        x = F.adaptive_avg_pool2d(x, side)
    elif mode == "bilinear":
        x = F.interpolate(x, size=[side, side], mode="bilinear")
    else:
        raise ValueError(f"pooling must be 'area' or 'bilinear', got {mode!r}")
    return x.permute(0, 2, 3, 1).reshape(frames, side * side, dim)
