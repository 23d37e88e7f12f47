"""The models a benchmark runs: a named shape with random weights (nothing to download), or a checkpoint.

Random weights cost exactly what trained ones cost, so a shape preset (`qwen2.5-7b`, ...) measures
the real model's compute and memory. Its 4-bit variant is quantized in memory with bitsandbytes'
own layers (NF4, double quantization, the same modules left unquantized as `load_model` leaves),
so no checkpoint has to be written to disk first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crosslmm_cli.checkpoints.loader import UNQUANTIZED_MODULES

if TYPE_CHECKING:
    import torch
    from torch import nn

    from crosslmm_cli.modeling import CrossLMMConfig, CrossLMMForConditionalGeneration

WEIGHT_CHOICES = ("4bit", "16bit", "32bit")


def compute_dtype(weights: str, device: torch.device) -> torch.dtype:
    """bfloat16 for 16- and 4-bit weights where the device has it (float16 on old GPUs), else float32."""
    import torch

    if weights == "32bit":
        return torch.float32
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def is_shape_name(source: str) -> bool:
    from crosslmm_cli.modeling.shapes import SHAPES

    return source in SHAPES


def shape_config(source: str, **overrides: Any) -> CrossLMMConfig:
    from crosslmm_cli.modeling.shapes import config_for_shape

    return config_for_shape(source, **{k: v for k, v in overrides.items() if v is not None})


def random_model(config: CrossLMMConfig, weights: str, device: torch.device, seed: int = 0) -> CrossLMMForConditionalGeneration:
    """A model of `config` with random weights, in eval mode on `device`, at `weights` precision."""
    import torch

    from crosslmm_cli.modeling import CrossLMMForConditionalGeneration

    if weights not in WEIGHT_CHOICES:
        raise ValueError(f"weights must be one of {WEIGHT_CHOICES}, got {weights!r}")
    dtype = compute_dtype(weights, device)
    torch.manual_seed(seed)
    # A 4-bit model is built in 16 bits on the host and quantized layer by layer onto the device,
    # so the device never holds the 16-bit LLM (15 GB for the 7B shape), as loading a checkpoint.
    build_on = torch.device("cpu") if weights == "4bit" else device
    with torch.device(build_on):
        model = CrossLMMForConditionalGeneration._from_config(config, dtype=dtype).eval()
    if weights == "4bit":
        quantize_4bit_(model, dtype, device)
    return model.to(device)


def quantize_4bit_(model: nn.Module, dtype: torch.dtype, device: torch.device, skip: list[str] = UNQUANTIZED_MODULES) -> None:
    """Replace every linear layer outside `skip` by bitsandbytes' NF4 layer, in place, one at a time."""
    import bitsandbytes as bnb
    from torch import nn

    targets = [
        name for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and not any(name == s or name.startswith(s + ".") for s in skip)
    ]
    for name in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        linear = getattr(parent, child)
        quantized = bnb.nn.Linear4bit(
            linear.in_features, linear.out_features, bias=linear.bias is not None,
            compute_dtype=dtype, compress_statistics=True, quant_type="nf4", device="meta",
        )
        quantized.weight = bnb.nn.Params4bit(linear.weight.data, requires_grad=False, quant_type="nf4",
                                             compress_statistics=True)
        if linear.bias is not None:
            quantized.bias = nn.Parameter(linear.bias.data, requires_grad=False)
        setattr(parent, child, quantized.to(device))  # moving a Params4bit quantizes it
        del linear


def load_checkpoint_model(path: str, weights: str, device: str) -> CrossLMMForConditionalGeneration:
    """A checkpoint through the tool's own loader (`crosslmm_cli.checkpoints.loader.load_model`)."""
    from crosslmm_cli.checkpoints.devices import resolve_device
    from crosslmm_cli.checkpoints.loader import load_model

    quantize = {"4bit": "4bit", "16bit": "none", "32bit": "none"}[weights]
    dtype = compute_dtype(weights, resolve_device(device))
    model, _processor = load_model(path, quantize=quantize, device=device, dtype=dtype)
    return model
