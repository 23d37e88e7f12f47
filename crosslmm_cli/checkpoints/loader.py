"""Loading a CrossLMM checkpoint: local directory or hub id, 16-bit, 8-bit or 4-bit.

`load_checkpoint` is the one loader: `load_model` (inference: ask, eval, bench) and training's
`load_for_training` (its own dtype and QLoRA policy) both call it. 4-bit is bitsandbytes NF4 with double quantization and a 16-bit compute dtype on GPU (the float32
default is bitsandbytes' slow path). The vision tower, projector and LM head stay unquantized;
norms, gates and embeddings are not linear layers and are never quantized. Weights load from
safetensors only, never with remote code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crosslmm_cli.checkpoints.devices import QUANTIZE_CHOICES, resolve_device, resolve_dtype
from crosslmm_cli.checkpoints.quiet_loading import no_transformers_progress
from crosslmm_cli.errors import CheckpointError, ModelNotFoundError, OfflineError

if TYPE_CHECKING:
    import torch

    from crosslmm_cli.modeling import CrossLMMForConditionalGeneration
    from crosslmm_cli.modeling.processing import CrossLMMProcessor

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
#: Modules kept in the compute dtype under 4/8-bit (full names from the model root).
UNQUANTIZED_MODULES = ["model.vision_tower", "model.multi_modal_projector", "lm_head"]
#: What a hub download fetches: configs, safetensors and tokenizer files, never pickles or code.
HUB_ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken"]


@dataclass(frozen=True)
class LoadedModel:
    """What `load_model` resolved, for messages (`--verbose`) and records (`model` in JSONL)."""

    path: Path
    device: str
    dtype: str
    quantize: str


def resolve_quantize(quantize: str, device: torch.device) -> str:
    if quantize not in QUANTIZE_CHOICES:
        raise ValueError(f"quantize must be one of {QUANTIZE_CHOICES}, got {quantize!r}")
    if quantize == "auto":
        return "4bit" if device.type == "cuda" else "none"
    return quantize


def bitsandbytes_config(quantize: str, compute_dtype: torch.dtype, keep: list[str] = UNQUANTIZED_MODULES) -> Any:
    """bitsandbytes settings for "4bit" (NF4, double quantization) or "8bit"; None for "none".

    `keep`: modules left in `compute_dtype` (regexes or names from the model root)."""
    from transformers import BitsAndBytesConfig

    if quantize == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
            llm_int8_skip_modules=keep,
        )
    if quantize == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=keep)
    return None


def resolve_checkpoint(path_or_id: str | Path, revision: str | None = None) -> Path:
    """A local directory as is; otherwise a hub repo id through huggingface_hub's cache."""
    path = Path(path_or_id).expanduser()
    if path.exists():
        return path
    text = str(path_or_id)
    if text.count("/") != 1 or text.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"{text}: no such model directory", hint="pass a directory or a hub id like org/name")
    return download_snapshot(text, revision)


def download_snapshot(repo_id: str, revision: str | None = None) -> Path:
    """Cached snapshot if present (no network), else a download; a clear message when offline."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=HUB_ALLOW_PATTERNS, local_files_only=True))
    except LocalEntryNotFoundError:
        pass
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=HUB_ALLOW_PATTERNS))
    except (RepositoryNotFoundError, RevisionNotFoundError) as error:
        raise ModelNotFoundError(f"{repo_id}: not found on the Hugging Face Hub ({type(error).__name__})") from error
    except LocalEntryNotFoundError as error:
        raise OfflineError(
            f"{repo_id}: not in the local cache and the Hugging Face Hub cannot be reached",
            hint="connect to the network once (or copy the model directory here) and pass its path",
        ) from error
    except OSError as error:  # connection refused, DNS, timeouts: all OSErrors underneath
        raise OfflineError(f"{repo_id}: download failed ({type(error).__name__}: {error})".splitlines()[0]) from error


def check_checkpoint_dir(path: Path) -> dict:
    """Validate a CrossLMM checkpoint directory before handing it to transformers; returns config.json.

    Every failure names the file: a missing config, invalid JSON, a LLaVA-OneVision checkpoint
    that needs converting, pickle-only weights (refused), a missing shard, a corrupt safetensors file.
    """
    from safetensors import safe_open

    from crosslmm_cli.modeling.checkpoint_files import read_json_object

    if not path.is_dir():
        raise ModelNotFoundError(f"{path}: not a directory")
    config_file = path / "config.json"
    config = read_json_object(config_file)
    model_type = config.get("model_type")
    if model_type == "llava_onevision":
        raise CheckpointError(f"{path}: a LLaVA-OneVision checkpoint, not a CrossLMM one",
                              hint=f"convert it first: crosslmm convert {path} OUT_DIR")
    if model_type != "crosslmm":
        raise CheckpointError(f"{config_file}: model_type is {model_type!r}, expected 'crosslmm'")

    index_file = path / "model.safetensors.index.json"
    if index_file.is_file():
        shards = sorted(set(read_json_object(index_file).get("weight_map", {}).values()))
        weights = [path / shard for shard in shards]
        for shard in weights:
            if not shard.is_file():
                raise CheckpointError(f"{shard}: missing (listed in {index_file.name})")
    else:
        weights = sorted(path.glob("*.safetensors"))
    if not weights:
        pickles = sorted(p for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise CheckpointError(f"{pickles[0]}: refusing to load pickle weights (loading them can run code)",
                                  hint="convert the checkpoint to safetensors")
        raise CheckpointError(f"{path}: no *.safetensors weights")
    for weight_file in weights:
        try:
            with safe_open(weight_file, framework="pt"):
                pass
        except Exception as error:  # safetensors raises its own error types for every kind of damage
            raise CheckpointError(f"{weight_file}: corrupt safetensors file ({error})".splitlines()[0]) from error
    return config


def open_checkpoint(path_or_id: str | Path, revision: str | None = None) -> tuple[Path, dict]:
    """(local directory, config.json) of a checkpoint directory or hub id, checked before any weight is read."""
    path = resolve_checkpoint(path_or_id, revision)
    return path, check_checkpoint_dir(path)


def checkpoint_config(path: Path, config_dict: dict) -> CrossLMMConfig:
    """A checkpoint's config.json as a CrossLMMConfig (no weights read); bad values are a CheckpointError naming the file."""
    from crosslmm_cli.modeling import CrossLMMConfig

    try:
        return CrossLMMConfig(**{k: v for k, v in config_dict.items() if k != "model_type"})
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path / 'config.json'}: {error}".splitlines()[0]) from error


def load_checkpoint(
    path: Path,
    config_dict: dict,
    *,
    device: torch.device,
    dtype: torch.dtype,
    quantization_config: Any = None,
    tokens_per_frame: int | None = None,
) -> tuple[CrossLMMForConditionalGeneration, CrossLMMProcessor]:
    """The one place a CrossLMM checkpoint becomes a model and its processor, for inference and training.

    safetensors only, never remote code, never the network (the directory is local by now);
    `tokens_per_frame` overrides the checkpoint's; failures are a CheckpointError naming the path.
    """
    from crosslmm_cli.modeling import CrossLMMForConditionalGeneration
    from crosslmm_cli.modeling.processing import CrossLMMProcessor

    if tokens_per_frame is not None:
        config_dict = {**config_dict, "tokens_per_frame": int(tokens_per_frame)}
    config = checkpoint_config(path, config_dict)
    kwargs: dict[str, Any] = {
        "config": config,
        "dtype": dtype,
        "use_safetensors": True,
        "trust_remote_code": False,
        "local_files_only": True,
        "device_map": {"": device.index if device.type == "cuda" and device.index is not None else device.type},
    }
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    try:
        with no_transformers_progress():
            model = CrossLMMForConditionalGeneration.from_pretrained(path, **kwargs)
    except (OSError, ValueError, RuntimeError, KeyError) as error:
        raise CheckpointError(f"{path}: could not load the model ({error})".splitlines()[0]) from error
    processor = CrossLMMProcessor.from_pretrained(path, tokens_per_frame=config.tokens_per_frame)
    return model, processor


def load_model(
    path_or_id: str | Path,
    *,
    quantize: str = "auto",
    device: str = "auto",
    dtype: str | torch.dtype | None = None,
    tokens_per_frame: int | None = None,
    revision: str | None = None,
) -> tuple[CrossLMMForConditionalGeneration, CrossLMMProcessor]:
    """Load model and processor for inference (eval mode). `tokens_per_frame` overrides the checkpoint's."""
    from crosslmm_cli.modeling.stop_tokens import set_stop_tokens

    path, config_dict = open_checkpoint(path_or_id, revision)
    target = resolve_device(device)
    compute_dtype = resolve_dtype(dtype, target)
    quantize = resolve_quantize(quantize, target)
    model, processor = load_checkpoint(path, config_dict, device=target, dtype=compute_dtype,
                                       quantization_config=bitsandbytes_config(quantize, compute_dtype),
                                       tokens_per_frame=tokens_per_frame)
    model.eval()
    model.loaded = LoadedModel(path=path, device=str(target), dtype=str(compute_dtype).removeprefix("torch."),
                               quantize=quantize)
    set_stop_tokens(model.generation_config, processor.tokenizer)
    return model, processor
