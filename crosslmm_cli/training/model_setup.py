"""A CrossLMM checkpoint made ready to train: precision, LoRA / QLoRA, gradient checkpointing.

Precision: on CPU everything is float32. On a GPU the frozen weights stay in the checkpoint's
16-bit dtype (half the memory), trainable ones become float32 master weights, and forward passes
run under bf16 autocast. QLoRA loads the LLM's linear layers in 4-bit NF4 (bitsandbytes; the
vision tower, projector, cross-attention and LM head stay unquantized, so they can train) and puts
LoRA adapters (peft) on the LLM's linear layers.

Saved checkpoints are plain CrossLMM directories: LoRA deltas are merged out of place (the training
model is never modified by a save) into the base weights, taken for 4-bit layers from the 16-bit
checkpoint they were quantized from (so frozen LLM weights come out bit-identical, and a QLoRA merge
is original + delta, as peft users merge), written in the checkpoint's dtype; the adapters alone
also go to `adapter/` in peft's format.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crosslmm_cli.checkpoints.loader import UNQUANTIZED_MODULES
from crosslmm_cli.training.errors import TrainingSetupError

if TYPE_CHECKING:
    import torch

    from crosslmm_cli.modeling import CrossLMMForConditionalGeneration

#: The LLM's own linear layers (not the cross-attention): where LoRA adapters go.
LORA_TARGETS = r"model\.language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
#: Kept out of 4-bit quantization under QLoRA (regexes from the model root, as transformers matches them).
QLORA_UNQUANTIZED = [*UNQUANTIZED_MODULES, r"model\.language_model\.layers\.\d+\.cross_attn"]


@dataclass(frozen=True)
class ModelSettings:
    device: str = "auto"
    lora: bool = False
    qlora: bool = False
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.05
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.lora_rank < 1:
            raise ValueError(f"--lora-rank must be >= 1, got {self.lora_rank}")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"--lora-dropout must be in [0, 1), got {self.lora_dropout}")

    @property
    def uses_lora(self) -> bool:
        return self.lora or self.qlora


@dataclass
class TrainableModel:
    """The model to train and what was decided about it."""

    model: CrossLMMForConditionalGeneration  # forward through this one (LoRA layers sit inside it)
    processor: Any
    peft_model: Any | None  # the peft wrapper when LoRA is on (for saving adapters)
    device: torch.device
    autocast_dtype: torch.dtype | None  # bf16 on GPU, None on CPU
    save_dtype: torch.dtype  # the checkpoint's own dtype
    source: Path

    def autocast(self) -> contextlib.AbstractContextManager:
        import torch

        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)


def load_for_training(path: str | Path, settings: ModelSettings, *, tokens_per_frame: int | None = None,
                      adapters: bool = True) -> TrainableModel:
    """Load `path` (a CrossLMM checkpoint directory or hub id) for training; errors name the path.

    `tokens_per_frame` overrides the checkpoint's (and is what the saved checkpoints will say).
    `adapters=False`: no LoRA adapters even with --lora/--qlora (a plan that does not train them,
    e.g. stage 1 on a 4-bit LLM)."""
    import torch

    from crosslmm_cli.checkpoints.devices import resolve_device
    from crosslmm_cli.checkpoints.loader import bitsandbytes_config, load_checkpoint, open_checkpoint

    source, config_dict = open_checkpoint(path)
    device = resolve_device(settings.device)
    save_dtype = getattr(torch, str(config_dict.get("dtype") or config_dict.get("torch_dtype") or "float32"))
    on_gpu = device.type == "cuda"
    load_dtype = save_dtype if on_gpu and save_dtype in (torch.bfloat16, torch.float16) else torch.float32
    if on_gpu and load_dtype == torch.float32:
        load_dtype = torch.bfloat16  # frozen weights in 16 bits on a GPU even from a float32 checkpoint
    quantization = None
    if settings.qlora:
        quantization = bitsandbytes_config("4bit", torch.bfloat16 if on_gpu else torch.float32, keep=QLORA_UNQUANTIZED)
    model, processor = load_checkpoint(source, config_dict, device=device, dtype=load_dtype,
                                       quantization_config=quantization, tokens_per_frame=tokens_per_frame)
    peft_model = add_lora(model, settings) if settings.uses_lora and adapters else None
    if settings.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    return TrainableModel(model=model, processor=processor, peft_model=peft_model, device=device,
                          autocast_dtype=torch.bfloat16 if on_gpu else None, save_dtype=save_dtype, source=source)


def add_lora(model: CrossLMMForConditionalGeneration, settings: ModelSettings) -> Any:
    """Put LoRA adapters on the LLM's linear layers (in place); returns peft's wrapper."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as error:
        raise TrainingSetupError("--lora/--qlora need peft", hint="pip install 'crosslmm[train]'") from error
    config = LoraConfig(r=settings.lora_rank, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                        target_modules=LORA_TARGETS, bias="none")
    return get_peft_model(model, config)


def master_weights_to_float32(model: torch.nn.Module) -> None:
    """Trainable parameters in float32 (Adam updates of 1e-5 vanish in bf16); frozen ones untouched."""
    import torch

    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()


def trainable_parameters(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    return {name: param for name, param in model.named_parameters() if param.requires_grad}


def export_state_dict(model: CrossLMMForConditionalGeneration, dtype: torch.dtype,
                      original: Callable[[str], torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The plain CrossLMM state dict: LoRA merged, cast to `dtype`.

    4-bit layers take their weight from `original(name)` (the 16-bit checkpoint they were quantized
    from: a frozen layer comes out bit-identical, a LoRA layer as original + delta, the usual QLoRA
    merge), or else are dequantized.
    """
    import torch

    def dense(name: str, linear: Any) -> torch.Tensor:
        if original is not None and getattr(linear.weight, "quant_state", None) is not None:
            return original(f"{name}.weight").float()
        return _dense_weight(linear)

    lora_layers, quantized = _special_layers(model)
    # state_dict() first: bitsandbytes repacks CPU-inference weights back to their NF4 layout in it.
    full = model.state_dict()
    skip_prefixes = tuple(f"{name}." for name in lora_layers) + tuple(f"{name}.weight" for name in quantized)
    state = {key: value for key, value in full.items() if not key.startswith(skip_prefixes)}
    with torch.no_grad():
        for name, layer in lora_layers.items():
            base = layer.get_base_layer()
            weight = dense(name, base)
            for adapter in layer.active_adapters:
                weight = weight + layer.get_delta_weight(adapter).float()
            state[f"{name}.weight"] = weight
            if base.bias is not None:
                state[f"{name}.bias"] = base.bias
        for name, layer in quantized.items():
            state[f"{name}.weight"] = dense(name, layer)
    if getattr(model.config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)  # tied to the input embeddings: stored once, as transformers does
    return {key: (value.to(dtype) if value.is_floating_point() else value).detach().cpu().contiguous()
            for key, value in state.items()}


@contextlib.contextmanager
def checkpoint_reader(directory: Path):
    """name -> tensor from a checkpoint's safetensors files (one or sharded), read on demand."""
    import json

    from safetensors import safe_open

    index = directory / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
    else:
        weight_map = {}
        for file in sorted(directory.glob("*.safetensors")):
            with safe_open(str(file), framework="pt") as handle:
                weight_map.update(dict.fromkeys(handle.keys(), file.name))
    with contextlib.ExitStack() as stack:
        handles: dict[str, Any] = {}

        def read(name: str):
            file = weight_map[name]
            if file not in handles:
                handles[file] = stack.enter_context(safe_open(str(directory / file), framework="pt"))
            return handles[file].get_tensor(name)

        yield read


def _special_layers(model: torch.nn.Module) -> tuple[dict[str, Any], dict[str, Any]]:
    """(LoRA layers, 4-bit layers outside them) by module name."""
    lora_layers: dict[str, Any] = {}
    if any(".lora_A." in name for name, _ in model.named_parameters()):  # peft (and bitsandbytes) only then
        from peft.tuners.lora import LoraLayer

        lora_layers = {name: m for name, m in model.named_modules() if isinstance(m, LoraLayer)}
    quantized = {name: m for name, m in model.named_modules()
                 if type(m).__name__ == "Linear4bit" and not any(name.startswith(f"{p}.") for p in lora_layers)
                 and name not in lora_layers}
    return lora_layers, quantized


def _dense_weight(linear: Any) -> torch.Tensor:
    """A linear layer's weight in float32, dequantized if it is 4-bit."""
    weight = linear.weight
    quant_state = getattr(weight, "quant_state", None)
    if quant_state is not None:
        import bitsandbytes.functional as bnb_functional

        return bnb_functional.dequantize_4bit(weight.data, quant_state).float()
    return weight.detach().float()


def save_plain_checkpoint(trainable: TrainableModel, directory: str | Path) -> Path:
    """Write a CrossLMM checkpoint (config, safetensors, processor) that `load_model` reads."""
    import torch

    from crosslmm_cli.modeling import CrossLMMConfig, CrossLMMForConditionalGeneration

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model = trainable.model
    with checkpoint_reader(trainable.source) as original:
        state = export_state_dict(model, trainable.save_dtype, original)
    config_dict = model.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("model_type", None)
    config = CrossLMMConfig(**config_dict)
    config.dtype = trainable.save_dtype
    with torch.device("meta"):
        clean = CrossLMMForConditionalGeneration(config)
    clean.save_pretrained(directory, state_dict=state)
    if model.generation_config is not None:
        model.generation_config.save_pretrained(directory)
    trainable.processor.save_pretrained(directory)
    if trainable.peft_model is not None:
        trainable.peft_model.save_pretrained(directory / "adapter")
    return directory
