"""Prefill multiply-adds computed from a config's shapes, with no model built.

This is how the bench gives figures for shapes too large to run here (the real 1.5B and 7B):
the formula below mirrors, matmul by matmul, what the model executes, under the same conventions
as the counter in `flops.py` (bias additions, norms, activations and pooling are not counted;
causal attention counts S(S+1)/2 query-key pairs). Tests hold it equal to the counted MACs, exactly,
for several configurations, so the two cannot drift apart silently.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from .flops import MacCounts, causal_pairs

if TYPE_CHECKING:
    from crosslmm_cli.modeling import CrossLMMConfig


def vision_macs_per_frame(config: CrossLMMConfig) -> int:
    """Patch embedding plus the encoder layers that run (those up to `vision_feature_layer`)."""
    vision = config.vision_config
    dim, inner, patch = vision.hidden_size, vision.intermediate_size, vision.patch_size
    tokens = config.vision_grid_side**2
    embedding = tokens * (3 * patch * patch) * dim  # a conv (SigLIP) or a linear on patches (NaFlex)
    projections = 4 * tokens * dim * dim  # q, k, v, out
    attention = tokens * tokens * 2 * dim  # QK^T and PV over all heads, no mask
    mlp = 2 * tokens * dim * inner
    return embedding + config.num_encoder_layers_used * (projections + attention + mlp)


def _text_dims(config: CrossLMMConfig) -> tuple[int, int, int, int, int]:
    text = config.text_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    return text.hidden_size, text.num_attention_heads, text.num_key_value_heads, head_dim, text.intermediate_size


def prefill_macs(
    config: CrossLMMConfig,
    frames: int,
    tokens_per_frame: int,
    text_tokens: int,
    *,
    cross_attention: Collection[str] | None = None,
    logits_to_keep: int = 1,
    batch: int = 1,
) -> MacCounts:
    """MACs of one prefill from pixels: `frames` frames, `tokens_per_frame` pooled tokens each, and
    `text_tokens` other prompt tokens (the video newline, if any, is added here).

    cross_attention: the blocks that run (None = every block the model has, `()` = shut, the
    full-token baseline).
    """
    built = set(config.cross_attention_blocks) if config.cross_attention_layers else set()
    blocks = built if cross_attention is None else set(cross_attention) & built
    dim, heads, kv_heads, head_dim, inner = _text_dims(config)
    q_dim, kv_dim = heads * head_dim, kv_heads * head_dim
    vision_dim = config.vision_config.hidden_size
    grid_tokens = config.vision_grid_side**2
    kv_tokens = config.kv_grid_side**2
    frame_tokens = frames * tokens_per_frame
    seq = text_tokens + frame_tokens + int(config.video_newline)
    other = seq - frame_tokens  # text positions, the newline included: T2V queries

    vision = frames * vision_macs_per_frame(config)

    per_token_projector = vision_dim * dim + dim * dim
    if config.pool_position == "after_projector":
        projected = frames * grid_tokens  # projected once, then pooled for both uses
    else:
        projected = frame_tokens + (frames * kv_tokens if blocks and config.kv_source == "projected" else 0)
    projector = projected * per_token_projector

    layers = config.text_config.num_hidden_layers
    per_layer = seq * dim * (2 * q_dim + 2 * kv_dim) + heads * causal_pairs(seq, seq) * 2 * head_dim + 3 * seq * dim * inner
    kept = seq if logits_to_keep == 0 else min(logits_to_keep, seq)
    llm = layers * per_layer + kept * dim * config.text_config.vocab_size

    source_dim = dim if config.kv_source == "projected" else vision_dim
    key_values = 2 * frames * kv_tokens * source_dim * kv_dim
    cross = 0
    if "v2v" in blocks:
        if config.v2v_scope == "frame":
            pairs = frames * tokens_per_frame * kv_tokens
        else:
            pairs = frame_tokens * frames * kv_tokens
        cross += key_values + 2 * frame_tokens * dim * q_dim + heads * pairs * 2 * head_dim
    if "t2v" in blocks:
        cross += key_values + 2 * other * dim * q_dim + heads * other * frames * kv_tokens * 2 * head_dim
    cross *= len(config.cross_attention_layers)
    return MacCounts(vision=batch * vision, projector=batch * projector, llm=batch * llm, cross_attention=batch * cross)
