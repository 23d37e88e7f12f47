"""Where a model runs: the device names the tool accepts, the compute dtype, and CPU threads.

One rule for every command and the settings file: a device is `auto`, `cpu`, `cuda` or `cuda:N`,
and a quantization `auto`, `4bit`, `8bit` or `none`.
One CPU-thread policy for every command that runs a model (ask, train, eval, bench, ...):
`--threads` if given, else one thread for a small model on a CPU, where OpenMP's per-op
synchronisation costs more than the narrow matmuls (far more when other processes share the
cores: `crosslmm bench train-step`), else torch's own choice. torch is imported inside the functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from crosslmm_cli.errors import ModelNotFoundError, UsageError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")  # and cuda:N
DEVICE_NAMES = "auto, cpu, cuda or cuda:N"
#: Weight quantization, for every command and the settings file; auto: 4bit on CUDA, none elsewhere.
QUANTIZE_CHOICES = ("auto", "4bit", "8bit", "none")
#: Below this LLM width a CPU runs the model fastest on one thread.
SMALL_MODEL_WIDTH = 512


def is_device_name(device: str) -> bool:
    return device in DEVICE_CHOICES or (device.startswith("cuda:") and device[5:].isdigit())


def check_device(device: str) -> str:
    """`device` when it names a device; else a UsageError (exit 2) naming the flag."""
    if not is_device_name(device):
        raise UsageError(f"--device must be {DEVICE_NAMES}, not {device!r}")
    return device


def check_quantize(quantize: str) -> str:
    """`quantize` when it is one of QUANTIZE_CHOICES; else a UsageError (exit 2) naming the flag."""
    if quantize not in QUANTIZE_CHOICES:
        raise UsageError(f"--quantize must be auto, 4bit, 8bit or none, not {quantize!r}")
    return quantize


def resolve_device(device: str = "auto") -> torch.device:
    """The torch device `device` names; `auto` is CUDA when a GPU is visible, else the CPU."""
    import torch

    check_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelNotFoundError(f"device {device!r}: no CUDA GPU is visible", hint="use --device cpu (slow)")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """bfloat16 on GPUs that have it, float16 on older GPUs, float32 on CPU (fast there)."""
    import torch

    if dtype is not None:
        return dtype if isinstance(dtype, torch.dtype) else getattr(torch, str(dtype))
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def model_width(model: str) -> int | None:
    """The LLM's hidden size from a local checkpoint's config.json (None when not readable)."""
    try:
        config = json.loads((Path(model) / "config.json").read_text(encoding="utf-8"))
        return int(config["text_config"]["hidden_size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def default_threads(width: int | None, device: str) -> int | None:
    """1 for a model narrower than SMALL_MODEL_WIDTH on a CPU; None: leave torch its own choice."""
    import torch

    on_cpu = device == "cpu" or (device == "auto" and not torch.cuda.is_available())
    return 1 if on_cpu and width is not None and width < SMALL_MODEL_WIDTH else None


def set_threads(threads: int | None, model: str, device: str) -> None:
    """`--threads`, or the policy above for the checkpoint `model` on `device`.

    Also silences transformers' per-file progress bars (loading, saving): the commands draw their own.
    """
    import torch
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    if threads is not None and threads < 1:
        raise UsageError(f"--threads must be >= 1, got {threads}")
    threads = threads or default_threads(model_width(model), device)
    if threads is not None:
        torch.set_num_threads(threads)
