"""`crosslmm init`: a new CrossLMM from a SigLIP / SigLIP2 vision checkpoint and a Qwen2-family LLM.

The paper's recipe is SigLIP2 + Qwen2.5-Instruct. The encoder and the LLM keep their weights;
the projector is new (PyTorch's default init, as LLaVA starts its projector), the video newline is
drawn small, and the cross-attention blocks get zero gates (random or self-attention-copied
q/k/v/o), so before training the model is exactly its LLM reading pooled frame tokens. The
tokenizer and its chat template come from the LLM; `<video>` is added when it lacks one (with an
embedding row, if the vocabulary has no spare one). Stage-1 training comes next.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crosslmm_cli.errors import CheckpointError

if TYPE_CHECKING:
    import torch

VIDEO_TOKEN = "<video>"


def _load_configs(vision_dir: Path, llm_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoConfig

    from crosslmm_cli.modeling.configuration import TEXT_MODEL_TYPES, VISION_MODEL_TYPES

    try:
        vision = AutoConfig.from_pretrained(vision_dir, trust_remote_code=False, local_files_only=True)
        llm = AutoConfig.from_pretrained(llm_dir, trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        raise CheckpointError(f"cannot read a config: {error}".splitlines()[0]) from error
    vision = getattr(vision, "vision_config", vision)  # a whole SigLIP model: its vision half
    if vision.model_type not in VISION_MODEL_TYPES:
        raise CheckpointError(f"{vision_dir}: a {vision.model_type!r} model, expected SigLIP or SigLIP2 ({VISION_MODEL_TYPES})")
    if llm.model_type not in TEXT_MODEL_TYPES:
        raise CheckpointError(f"{llm_dir}: a {llm.model_type!r} model, expected a Qwen2-family LLM ({TEXT_MODEL_TYPES})")
    return vision, llm


def _tokenizer_with_video_token(llm_dir: Path) -> Any:
    from transformers import AutoTokenizer

    from crosslmm_cli.modeling.tokenizer import QWEN2_CHAT_TEMPLATE

    try:
        tokenizer = AutoTokenizer.from_pretrained(llm_dir, trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{llm_dir}: cannot load the tokenizer ({error})".splitlines()[0]) from error
    if VIDEO_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_tokens([VIDEO_TOKEN], special_tokens=True)
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = QWEN2_CHAT_TEMPLATE  # a base (non-instruct) LLM: Qwen2's own chat format
    return tokenizer


def _image_processor(vision_dir: Path, image_size: int) -> Any:
    from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor, ImageProcessorConfig

    if (vision_dir / "preprocessor_config.json").is_file():
        return CrossLMMImageProcessor.from_pretrained(vision_dir)
    return CrossLMMImageProcessor(ImageProcessorConfig(height=image_size, width=image_size))  # SigLIP's defaults


def _grow_vocabulary(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """Embedding rows for added tokens: the mean of the existing ones (a neutral start)."""
    import torch

    if weight.shape[0] >= rows:
        return weight
    extra = weight.float().mean(dim=0, keepdim=True).expand(rows - weight.shape[0], -1).to(weight.dtype)
    return torch.cat([weight, extra])


def init_crosslmm(
    vision: str | Path,
    llm: str | Path,
    output: str | Path,
    *,
    tokens_per_frame: int = 9,
    cross_attention_period: int = 4,
    pooling: str = "area",
    kv_source: str = "projected",
    init_cross_attention: str = "zero",
    seed: int = 0,
    dtype: str | None = None,
) -> Path:
    """Write a new CrossLMM checkpoint (weights, config, tokenizer, processor) to `output`."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    from crosslmm_cli.checkpoints.convert import cross_attention_weights, model_from_state
    from crosslmm_cli.checkpoints.loader import resolve_checkpoint
    from crosslmm_cli.modeling import CrossLMMConfig
    from crosslmm_cli.modeling.configuration import every_kth_layer
    from crosslmm_cli.modeling.modeling_crosslmm import CrossLMMMultiModalProjector
    from crosslmm_cli.modeling.processing import CrossLMMProcessor
    from crosslmm_cli.modeling.stop_tokens import set_stop_tokens

    vision_dir, llm_dir, output = resolve_checkpoint(vision), resolve_checkpoint(llm), Path(output)
    vision_config, llm_config = _load_configs(vision_dir, llm_dir)
    tokenizer = _tokenizer_with_video_token(llm_dir)
    weights_dtype = getattr(torch, dtype) if dtype else getattr(llm_config, "dtype", None) or torch.float32
    if isinstance(weights_dtype, str):
        weights_dtype = getattr(torch, weights_dtype)
    vocab = max(llm_config.vocab_size, len(tokenizer))
    text = {**llm_config.to_dict(), "vocab_size": vocab, "use_sliding_window": False}
    text.pop("layer_types", None)  # recomputed for the full-attention layers we need
    config = CrossLMMConfig(
        vision_config={**vision_config.to_dict(), "vision_use_head": False},
        text_config=text,
        tokens_per_frame=tokens_per_frame,
        pooling=pooling,
        pool_position="before_projector",
        kv_source=kv_source,
        cross_attention_layers=every_kth_layer(llm_config.num_hidden_layers, cross_attention_period),
        video_token_id=tokenizer.convert_tokens_to_ids(VIDEO_TOKEN),
        video_newline=True,
        tie_word_embeddings=bool(getattr(llm_config, "tie_word_embeddings", False)),
    )

    quiet = logging.getLogger("transformers.modeling_utils")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # loading a SigLIP vision half from a whole SigLIP lists every text weight
    try:
        vision_model = MODEL_MAPPING[type(config.vision_config)].from_pretrained(
            vision_dir, config=config.vision_config, dtype=weights_dtype, use_safetensors=True, local_files_only=True)
        llm_model = AutoModelForCausalLM.from_pretrained(llm_dir, dtype=weights_dtype, use_safetensors=True,
                                                         trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"cannot load weights: {error}".splitlines()[0]) from error
    finally:
        quiet.setLevel(level)

    state = {f"model.vision_tower.{key}": value for key, value in vision_model.state_dict().items()}
    llm_state = {f"model.language_model.{key.removeprefix('model.')}": value
                 for key, value in llm_model.state_dict().items() if key.startswith("model.")}
    embed_key = "model.language_model.embed_tokens.weight"
    llm_state[embed_key] = _grow_vocabulary(llm_state[embed_key], vocab)
    state.update(llm_state)
    state["lm_head.weight"] = (state[embed_key] if config.tie_word_embeddings
                               else _grow_vocabulary(llm_model.lm_head.weight.detach(), vocab))
    torch.manual_seed(seed)
    projector = CrossLMMMultiModalProjector(config).to(weights_dtype)
    state.update({f"model.multi_modal_projector.{k}": v for k, v in projector.state_dict().items()})
    hidden = config.text_config.hidden_size
    generator = torch.Generator().manual_seed(seed)
    state["model.video_newline"] = (torch.randn(hidden, generator=generator) / math.sqrt(hidden)).to(weights_dtype)
    state.update(cross_attention_weights(config, llm_state, init_cross_attention, seed, weights_dtype))
    del vision_model, llm_model

    config.dtype = weights_dtype
    model = model_from_state(config, state, source=output)
    output.mkdir(parents=True, exist_ok=True)
    if (llm_dir / "generation_config.json").is_file():
        model.generation_config = GenerationConfig.from_pretrained(llm_dir)
    set_stop_tokens(model.generation_config, tokenizer)
    model.save_pretrained(output)
    CrossLMMProcessor(_image_processor(vision_dir, config.vision_image_size), tokenizer,
                      tokens_per_frame=tokens_per_frame, video_newline=True, video_token=VIDEO_TOKEN).save_pretrained(output)
    return output
