"""Converting a llava-hf LLaVA-OneVision checkpoint into a CrossLMM checkpoint.

LLaVA-OneVision already holds everything CrossLMM needs except the cross-attention: a SigLIP
encoder, a projector and a Qwen2 LLM trained together on video. We keep those weights, add the
dual cross-attention blocks with zero gates, and pick the pooling. Contract: converted at
LLaVA-OneVision's own layout (196 tokens per frame for the 27x27 grid, bilinear pooling after the
projector, one newline token) the model's logits equal `LlavaOnevisionForConditionalGeneration`'s.
At fewer tokens per frame it runs as is, with lower quality until its cross-attention is trained
(`crosslmm train`) or distilled (`crosslmm distill`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crosslmm_cli.checkpoints.quiet_loading import no_transformers_progress
from crosslmm_cli.errors import CheckpointError

if TYPE_CHECKING:
    import torch

    from crosslmm_cli.modeling import CrossLMMConfig

INIT_CHOICES = ("zero", "from_self_attention")


def native_tokens_per_frame(image_size: int, patch_size: int) -> int:
    """LLaVA-OneVision's video tokens per frame: its grid halved with ceil (27 -> 14, i.e. 196)."""
    return math.ceil(image_size // patch_size / 2) ** 2


def onevision_tokens_per_frame(config: Any) -> int:
    """Tokens per frame when a CrossLMM config's model runs "the LLaVA-OneVision way": its encoder
    grid halved (196 for SigLIP's 27x27), never more than the encoder has. The distillation
    teacher and `crosslmm bench model`'s baseline both use it."""
    return min(native_tokens_per_frame(config.vision_image_size, config.vision_config.patch_size), config.vision_grid_side**2)


def crosslmm_config_from_llava(
    llava_config,
    *,
    tokens_per_frame: int | None = None,
    pooling: str | None = None,
    cross_attention_layers: list[int] | None = None,
    kv_tokens_per_frame: int | None = None,
) -> CrossLMMConfig:
    """The CrossLMM config of a converted checkpoint: LLaVA-OneVision's parts, our cross-attention."""
    from crosslmm_cli.modeling import CrossLMMConfig

    if not isinstance(llava_config.vision_feature_layer, int):
        raise CheckpointError(f"vision_feature_layer={llava_config.vision_feature_layer}: several feature layers are not supported")
    if llava_config.vision_feature_select_strategy != "full":
        raise CheckpointError("vision_feature_select_strategy must be 'full' (SigLIP has no class token to drop)")
    vision = llava_config.vision_config
    native = native_tokens_per_frame(vision.image_size, vision.patch_size)
    tokens_per_frame = native if tokens_per_frame is None else tokens_per_frame
    if kv_tokens_per_frame is None:
        # Cross-attention reads LLaVA-OneVision's own pooled grid (14x14): what its LLM learned to
        # read, and 3.7x less K/V memory than the full 27x27 grid (see docs/benchmarks.md).
        kv_tokens_per_frame = native
    if pooling is None:
        # Bilinear is LLaVA-OneVision's own 2x pooling; far below it, bilinear samples single patches.
        pooling = "bilinear" if tokens_per_frame == native else "area"
    return CrossLMMConfig(
        vision_config=vision.to_dict(),
        text_config=llava_config.text_config.to_dict(),
        tokens_per_frame=tokens_per_frame,
        kv_tokens_per_frame=kv_tokens_per_frame,
        pooling=pooling,
        pool_position="after_projector",
        kv_source="projected",
        cross_attention_layers=cross_attention_layers,
        vision_feature_layer=llava_config.vision_feature_layer,
        video_token_id=llava_config.video_token_index,
        video_newline=True,
        projector_hidden_act=llava_config.projector_hidden_act,
        multimodal_projector_bias=llava_config.multimodal_projector_bias,
        tie_word_embeddings=llava_config.tie_word_embeddings,
    )


def cross_attention_weights(config: CrossLMMConfig, llm_state: dict[str, torch.Tensor], init: str, seed: int,
                            dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """New cross-attention parameters: gates 0; q/k/v/o random ("zero") or copied from the layer's
    self-attention, norms from its input norm ("from_self_attention": only with projected K/V)."""
    import torch

    if init not in INIT_CHOICES:
        raise ValueError(f"init_cross_attention must be one of {INIT_CHOICES}, got {init!r}")
    if init == "from_self_attention" and config.kv_source != "projected":
        raise ValueError("init_cross_attention='from_self_attention' needs kv_source='projected'")
    text = config.text_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    source_dim = text.hidden_size if config.kv_source == "projected" else config.vision_config.hidden_size
    q_out, kv_out = text.num_attention_heads * head_dim, text.num_key_value_heads * head_dim
    generator = torch.Generator().manual_seed(seed)

    def normal(*shape: int) -> torch.Tensor:
        return (torch.randn(*shape, generator=generator) * text.initializer_range).to(dtype)

    weights = {}
    for layer in config.cross_attention_layers:
        prefix, own = f"model.language_model.layers.{layer}.cross_attn", f"model.language_model.layers.{layer}"
        weights[f"{prefix}.norm.weight"] = (llm_state[f"{own}.input_layernorm.weight"].clone() if init != "zero"
                                            else torch.ones(text.hidden_size, dtype=dtype))
        for block in config.cross_attention_blocks:
            name = f"{prefix}.{block}"
            if init == "from_self_attention":
                for proj in ("q_proj", "k_proj", "v_proj"):
                    weights[f"{name}.{proj}.weight"] = llm_state[f"{own}.self_attn.{proj}.weight"].clone()
                    weights[f"{name}.{proj}.bias"] = llm_state[f"{own}.self_attn.{proj}.bias"].clone()
                weights[f"{name}.o_proj.weight"] = llm_state[f"{own}.self_attn.o_proj.weight"].clone()
                weights[f"{name}.kv_norm.weight"] = llm_state[f"{own}.input_layernorm.weight"].clone()
            else:
                weights[f"{name}.q_proj.weight"] = normal(q_out, text.hidden_size)
                weights[f"{name}.q_proj.bias"] = torch.zeros(q_out, dtype=dtype)
                for proj in ("k_proj", "v_proj"):
                    weights[f"{name}.{proj}.weight"] = normal(kv_out, source_dim)
                    weights[f"{name}.{proj}.bias"] = torch.zeros(kv_out, dtype=dtype)
                weights[f"{name}.o_proj.weight"] = normal(text.hidden_size, q_out)
                weights[f"{name}.kv_norm.weight"] = torch.ones(source_dim, dtype=dtype)
            weights[f"{prefix}.gate_{block}"] = torch.zeros(1, dtype=dtype)
    return weights


def model_from_state(config: CrossLMMConfig, state: dict[str, torch.Tensor], source: object) -> torch.nn.Module:
    """A CrossLMM whose parameters are exactly the tensors of `state`: built on the meta device and
    assigned, so no random initialisation runs and no second copy of the weights is made."""
    import torch

    from crosslmm_cli.modeling import CrossLMMForConditionalGeneration

    with torch.device("meta"):
        model = CrossLMMForConditionalGeneration(config)
    expected = set(model.state_dict())
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        raise CheckpointError(f"{source}: unexpected weight layout (missing {sorted(missing)[:3]}, "
                              f"extra {sorted(unexpected)[:3]})")
    model.load_state_dict(state, strict=True, assign=True)
    return model


def convert_llava_onevision(
    src_dir: str | Path,
    dst_dir: str | Path,
    *,
    tokens_per_frame: int | None = None,
    init_cross_attention: str = "zero",
    pooling: str | None = None,
    cross_attention_layers: list[int] | None = None,
    kv_tokens_per_frame: int | None = None,
    seed: int = 0,
) -> Path:
    """Write a CrossLMM checkpoint (config, safetensors, tokenizer, processor) to `dst_dir`.

    `tokens_per_frame=None` keeps LLaVA-OneVision's own count (196 for 384-pixel SigLIP), which
    reproduces its logits exactly; 9 or 1 give the few-token model the tool is for.
    """
    import torch
    from transformers import AutoTokenizer, LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration

    from crosslmm_cli.modeling.checkpoint_files import read_json_object
    from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor
    from crosslmm_cli.modeling.processing import CrossLMMProcessor
    from crosslmm_cli.modeling.tokenizer import QWEN2_CHAT_TEMPLATE

    src, dst = Path(src_dir), Path(dst_dir)
    model_type = read_json_object(src / "config.json").get("model_type")
    if model_type != "llava_onevision":
        raise CheckpointError(f"{src / 'config.json'}: model_type is {model_type!r}, expected 'llava_onevision'")
    try:
        llava_config = LlavaOnevisionConfig.from_pretrained(src)
    except (OSError, ValueError) as error:
        raise CheckpointError(f"{src / 'config.json'}: not a LLaVA-OneVision config ({error})".splitlines()[0]) from error
    config = crosslmm_config_from_llava(llava_config, tokens_per_frame=tokens_per_frame, pooling=pooling,
                                        cross_attention_layers=cross_attention_layers,
                                        kv_tokens_per_frame=kv_tokens_per_frame)
    # transformers reads every layout llava-hf has published (legacy and current key names).
    try:
        with no_transformers_progress():
            llava = LlavaOnevisionForConditionalGeneration.from_pretrained(
                src, dtype="auto", use_safetensors=True, trust_remote_code=False, local_files_only=True
            )
    except (OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{src}: could not read the LLaVA-OneVision weights ({error})".splitlines()[0]) from error
    state = dict(llava.state_dict())
    dtype = state["lm_head.weight"].dtype
    state["model.video_newline"] = state.pop("model.image_newline")
    llm_state = {k: v for k, v in state.items() if k.startswith("model.language_model.")}
    state.update(cross_attention_weights(config, llm_state, init_cross_attention, seed, dtype))
    del llava

    config.dtype = dtype
    model = model_from_state(config, state, source=src)
    dst.mkdir(parents=True, exist_ok=True)
    with no_transformers_progress():
        model.save_pretrained(dst)

    tokenizer = AutoTokenizer.from_pretrained(src, trust_remote_code=False)
    # llava-hf's template expects typed content parts; LLaVA-OneVision was trained on Qwen2's
    # plain-text chat format, which is what our prompts use.
    tokenizer.chat_template = QWEN2_CHAT_TEMPLATE
    image_processor = CrossLMMImageProcessor.from_pretrained(src)
    CrossLMMProcessor(image_processor, tokenizer, tokens_per_frame=config.tokens_per_frame,
                      video_newline=config.video_newline).save_pretrained(dst)
    return dst
