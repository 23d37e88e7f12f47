"""Resizing uint8 frames in torch the way PIL's `Image.resize` does, without torchvision.

Checkpoints name their resampling filter with PIL's enum (`preprocessor_config.json`: ``"resample": 3``)
because the reference pipelines (LLaVA-OneVision's training code, transformers' PIL image processors)
resize with PIL: a separable filter, horizontal pass then vertical pass, each pass rounded and
clipped to uint8, with antialiasing when downscaling (the filter support grows with the scale).
(Pillow 13 may run the vertical pass first when the height shrinks much more than the width, which
moves a few pixels by a few levels; we keep the horizontal-first order of older Pillow and torch.)

How, per filter and device:
- bilinear / bicubic on CPU: torch's uint8 antialiased kernel (`F.interpolate` on uint8). It is the
  kernel torchvision and transformers' default ("fast") image processors call, ported from PIL,
  and about 10x faster than a float pass. It agrees with PIL to within 2 uint8 levels, on a few
  pixels (its fixed-point weights differ slightly from PIL's).
- bilinear / bicubic elsewhere (CUDA): two float antialiased passes (torch's antialiased kernels use
  PIL's filters: bicubic a=-0.5, support scaled by the downscale factor), each rounded half up and
  clamped to the uint8 grid as PIL does. Agrees with PIL to within 1 level.
- nearest: PIL's own source-pixel tables, gathered with `index_select`: exact.
- lanczos, box, hamming (no torch kernel): PIL itself, frame by frame, on CPU: exact by definition.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

#: PIL's resampling enum (`PIL.Image.Resampling`), as stored in `preprocessor_config.json`.
PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
RESAMPLE_BY_NAME = {name: code for code, name in PIL_RESAMPLE.items()}
_TORCH_FILTERS = {"bilinear", "bicubic"}

Kernel = Literal["auto", "uint8", "float"]


def resize_uint8(
    frames: torch.Tensor, size: tuple[int, int], resample: int, *, kernel: Kernel = "auto"
) -> torch.Tensor:
    """Resize uint8 frames (N,C,H,W) to `size` = (height, width) with PIL's filter `resample`.

    Returns uint8 (N,C,height,width) on the input's device. `kernel` forces the uint8 kernel or the
    float two-pass path for bilinear/bicubic ("auto": uint8 on CPU, float elsewhere); tests use it
    to check both against PIL.
    """
    if frames.dtype != torch.uint8 or frames.ndim != 4:
        raise ValueError(f"expected uint8 frames (N,C,H,W), got {frames.dtype} {tuple(frames.shape)}")
    height, width = size
    if tuple(frames.shape[-2:]) == (height, width):
        return frames
    name = PIL_RESAMPLE.get(resample)
    if name is None:
        raise ValueError(f"unknown PIL resample filter {resample!r} (known: {sorted(PIL_RESAMPLE)})")
    if name == "nearest":
        return _resize_nearest(frames, (height, width))
    if name not in _TORCH_FILTERS:
        return _resize_with_pil(frames, (height, width), resample)
    if kernel == "auto":
        kernel = "uint8" if frames.device.type == "cpu" else "float"
    if kernel == "uint8":
        return F.interpolate(frames, size=(height, width), mode=name, antialias=True, align_corners=False)
    if kernel == "float":
        return _resize_float_two_pass(frames, (height, width), name)
    raise ValueError(f"unknown kernel {kernel!r} (expected 'auto', 'uint8' or 'float')")


def _resize_float_two_pass(frames: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """PIL's order: horizontal pass, round+clip to uint8, vertical pass, round+clip.

    Without the intermediate rounding a bicubic float resize differs from PIL by up to ~20 levels on
    noisy images: bicubic overshoots and PIL clips the overshoot between the passes.
    """
    height, width = size
    x = frames.float()  # (N,C,H,W): one full-resolution float copy of this chunk only
    if x.shape[-1] != width:
        x = F.interpolate(x, size=(x.shape[-2], width), mode=mode, antialias=True, align_corners=False)
        x = _round_half_up_to_uint8_grid(x)
    if x.shape[-2] != height:
        x = F.interpolate(x, size=(height, width), mode=mode, antialias=True, align_corners=False)
        x = _round_half_up_to_uint8_grid(x)
    return x.to(torch.uint8)


def _round_half_up_to_uint8_grid(x: torch.Tensor) -> torch.Tensor:
    # PIL adds one half and truncates; torch.round() rounds halves to even, and bilinear weights
    # (1/8, 3/8, ...) hit exact halves often.
    return x.add_(0.5).floor_().clamp_(0, 255)


def _resize_nearest(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    rows = _pil_nearest_indices(frames.shape[-2], size[0]).to(frames.device)
    cols = _pil_nearest_indices(frames.shape[-1], size[1]).to(frames.device)
    return frames.index_select(-2, rows).index_select(-1, cols)


def _pil_nearest_indices(size_in: int, size_out: int) -> torch.Tensor:
    """Source index of each output pixel, computed as PIL does it.

    PIL starts at ``scale / 2`` and adds ``scale`` once per pixel in double precision, truncating
    each sum. Mathematically that is ``floor((i + 0.5) * scale)``, but the accumulated rounding
    lands just below exact integers (e.g. 512 -> 384: pixel 4 reads source 5, not 6); torch's
    ``nearest-exact`` computes the product and differs there. `np.cumsum` adds in the same order.
    """
    scale = size_in / size_out
    steps = np.full(size_out, scale, dtype=np.float64)
    steps[0] = scale / 2
    index = np.floor(np.cumsum(steps)).astype(np.int64)
    return torch.from_numpy(np.minimum(index, size_in - 1))


def _resize_with_pil(frames: torch.Tensor, size: tuple[int, int], resample: int) -> torch.Tensor:
    """Filters torch has no kernel for: let PIL do them, one frame at a time."""
    from PIL import Image

    height, width = size
    channels_last = frames.permute(0, 2, 3, 1).cpu().numpy()  # (N,H,W,C)
    out = np.empty((frames.shape[0], height, width, frames.shape[1]), dtype=np.uint8)
    for i, frame in enumerate(channels_last):
        image = Image.fromarray(np.ascontiguousarray(frame[..., 0] if frame.shape[-1] == 1 else frame))
        resized = np.asarray(image.resize((width, height), resample=resample))
        out[i] = resized.reshape(height, width, -1)
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(frames.device)
