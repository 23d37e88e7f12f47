"""Named model shapes, as data: a tiny one for tests and the real ones for benchmarks and init.

The real shapes copy the published configs (SigLIP-so400m-patch14-384 as LLaVA-OneVision uses
it, 26 layers; Qwen2.5 0.5B / 1.5B / 7B), so that a model built from them with random weights has
exactly the cost of the real one without downloading anything.
"""

from __future__ import annotations

from typing import Any

from .configuration import CrossLMMConfig

SIGLIP_SO400M_384 = {
    "model_type": "siglip_vision_model",
    "hidden_size": 1152,
    "intermediate_size": 4304,
    "num_hidden_layers": 26,
    "num_attention_heads": 16,
    "image_size": 384,
    "patch_size": 14,
    "vision_use_head": False,
}

#: Cross-attention reads a 14x14 grid per frame: the grid LLaVA-OneVision's LLM was trained to read,
#: and the only K/V size consistent with the paper's FLOP and memory figures (docs/benchmarks.md).
#: The full 27x27 grid costs 3.7x the K/V memory: 17 GB instead of 11 GB at 512 frames for 7B.
KV_TOKENS_PER_FRAME = 196

_QWEN2_COMMON = {"model_type": "qwen2", "max_position_embeddings": 32768, "rms_norm_eps": 1e-6,
                 "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}}

SHAPES: dict[str, dict[str, Any]] = {
    # transformers' model-tester scale: hidden 32, a few layers, 16-pixel patches of a 32-pixel frame.
    "tiny": {
        "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                          "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 32, "patch_size": 8},
        "text_config": {"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 4,
                        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 128},
        "tokens_per_frame": 4,
        "cross_attention_layers": [0, 1, 2, 3],
    },
    # The CPU benchmark shape (`crosslmm bench model` on a CPU): the real token geometry (a 27x27
    # grid, so 729 encoder tokens and the 196-token baseline per frame, exactly as SigLIP-384/14
    # makes them) with narrow, shallow networks, so 256 frames of the full-token baseline (50k
    # LLM tokens) run in seconds on two cores. 2-pixel patches keep the pixel input small, as it is
    # beside a real encoder's activations. Cross-attention in the last of 4 layers (period K=4).
    # At 32 frames the encoder makes ~80% of CrossLMM's prefill MACs (72% for the 7B shape).
    "cpu-small": {
        "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 128,
                          "num_hidden_layers": 2, "num_attention_heads": 1, "image_size": 54, "patch_size": 2},
        "text_config": {**_QWEN2_COMMON, "hidden_size": 64, "intermediate_size": 352, "num_hidden_layers": 4,
                        "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 32000},
        "kv_tokens_per_frame": KV_TOKENS_PER_FRAME,
    },
    "qwen2.5-0.5b": {
        "vision_config": SIGLIP_SO400M_384,
        "text_config": {**_QWEN2_COMMON, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
                        "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
                        "tie_word_embeddings": True},
        "kv_tokens_per_frame": KV_TOKENS_PER_FRAME,
    },
    "qwen2.5-1.5b": {
        "vision_config": SIGLIP_SO400M_384,
        "text_config": {**_QWEN2_COMMON, "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
                        "num_attention_heads": 12, "num_key_value_heads": 2, "vocab_size": 151936,
                        "tie_word_embeddings": True},
        "kv_tokens_per_frame": KV_TOKENS_PER_FRAME,
    },
    "qwen2.5-7b": {
        "vision_config": SIGLIP_SO400M_384,
        "text_config": {**_QWEN2_COMMON, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
                        "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064},
        "kv_tokens_per_frame": KV_TOKENS_PER_FRAME,
    },
}


def config_for_shape(name: str, **overrides: Any) -> CrossLMMConfig:
    """A `CrossLMMConfig` of a named shape; `overrides` replace top-level fields, and
    `vision_config` / `text_config` dicts in `overrides` update (not replace) the shape's."""
    if name not in SHAPES:
        raise ValueError(f"unknown model shape {name!r}; known: {', '.join(SHAPES)}")
    fields = {key: (dict(value) if isinstance(value, dict) else value) for key, value in SHAPES[name].items()}
    for key in ("vision_config", "text_config"):
        fields[key] = {**fields[key], **overrides.pop(key, {})}
    fields.update(overrides)
    fields.setdefault("video_token_id", fields["text_config"]["vocab_size"] - 1)
    return CrossLMMConfig(**fields)
