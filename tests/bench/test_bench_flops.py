"""MAC counting: the counter against hand-computed counts, the analytic formula against the counter."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from crosslmm_cli.bench.analytic import prefill_macs
from crosslmm_cli.bench.flops import MacCounter, attention_macs, causal_pairs, custom_formulas
from crosslmm_cli.modeling import CrossLMMForConditionalGeneration
from crosslmm_cli.modeling.shapes import config_for_shape


def tiny(seed: int = 0, **overrides) -> CrossLMMForConditionalGeneration:
    torch.manual_seed(seed)
    return CrossLMMForConditionalGeneration(config_for_shape("tiny", **overrides)).eval()


def count(model, frames: int, tokens_per_frame: int, text: tuple[int, int] = (3, 4), **kwargs):
    config = model.config
    video = config.video_placeholder_length(frames, tokens_per_frame)
    ids = torch.tensor([[1] * text[0] + [config.video_token_id] * video + [2] * text[1]])
    pixels = torch.randn(1, frames, 3, config.vision_image_size, config.vision_image_size)
    with torch.no_grad(), MacCounter(model) as counter:
        model(input_ids=ids, pixel_values_videos=pixels, tokens_per_frame=tokens_per_frame, logits_to_keep=1, **kwargs)
    return counter.counts


def test_counts_match_hand_computed_multiply_adds_for_the_tiny_shape():
    # tiny: encoder 32 wide, MLP 64, 2 layers, 8-pixel patches of 32-pixel frames (4x4 = 16 tokens);
    # LLM 32 wide, 4 heads of 8, 2 K/V heads (kv_dim 16), MLP 64, 4 layers, vocab 128; cross-attention
    # (V2V + T2V) in all 4 layers; 4 tokens per frame, a video newline.
    counts = count(tiny(), frames=3, tokens_per_frame=4, text=(3, 4))

    per_frame = 16 * (3 * 8 * 8) * 32 + 2 * (4 * 16 * 32 * 32 + 16 * 16 * 2 * 32 + 2 * 16 * 32 * 64)
    assert per_frame == 393_216  # 98,304 patch embedding + 2 x (65,536 + 16,384 + 65,536)
    assert counts.vision == 3 * per_frame

    # before_projector: 4 pooled + 16 K/V-source tokens per frame, each 32*32 + 32*32 MACs
    assert counts.projector == 3 * (4 + 16) * (32 * 32 + 32 * 32)

    seq = 3 + 3 * 4 + 1 + 4  # text, frames x 4, newline, text = 20
    projections = seq * 32 * (32 + 16 + 16 + 32)  # q, k, v, o
    attention = 4 * (seq * (seq + 1) // 2) * (8 + 8)  # 4 query heads, causal pairs, QK^T and PV
    mlp = 3 * seq * 32 * 64
    assert counts.llm == 4 * (projections + attention + mlp) + 1 * 32 * 128  # + LM head on the last token

    key_values = 2 * 3 * 16 * 32 * 16  # K and V of 3 frames x 16 tokens, 32 -> 16
    v2v = key_values + 2 * 12 * 32 * 32 + 4 * 3 * 4 * 16 * 16  # q/o of 12 frame tokens; 4 heads, own frame
    t2v = key_values + 2 * 8 * 32 * 32 + 4 * 8 * 48 * 16  # 8 other positions read all 48 tokens
    assert counts.cross_attention == 4 * (v2v + t2v)


@pytest.mark.parametrize("overrides, frames, tokens, blocks", [
    ({}, 2, 16, []),  # the full-token baseline: cross-attention shut
    ({}, 5, 1, ["v2v"]),
    ({"v2v_scope": "video"}, 3, 4, None),
    ({"pool_position": "after_projector"}, 3, 4, None),
    ({"kv_source": "vision", "kv_tokens_per_frame": 4}, 3, 1, None),
    ({"cross_attention_layers": [1, 3], "cross_attention_blocks": ["t2v"], "video_newline": False}, 4, 4, None),
    ({"vision_feature_layer": -2}, 2, 9, ["t2v"]),
])
def test_analytic_count_equals_the_counter(overrides, frames, tokens, blocks):
    model = tiny(**overrides)
    counted = count(model, frames, tokens, text=(5, 6), cross_attention=blocks)
    assert counted == prefill_macs(model.config, frames, tokens, 11, cross_attention=blocks)


def test_cpu_attention_kernel_is_counted_with_causal_and_grouped_heads():
    from torch.utils.flop_counter import FlopCounterMode

    q, k = torch.randn(2, 6, 10, 8), torch.randn(2, 3, 10, 8)
    with FlopCounterMode(display=False) as plain:
        F.scaled_dot_product_attention(q, k, k, enable_gqa=True)
    assert plain.get_total_flops() == 0  # torch's own counter misses the CPU kernel: what we fix
    for causal, pairs in ((False, 100), (True, 55)):
        with FlopCounterMode(display=False, custom_mapping=custom_formulas()) as counter:
            F.scaled_dot_product_attention(q, k, k, is_causal=causal, enable_gqa=True)
        assert counter.get_total_flops() == 2 * 2 * 6 * pairs * (8 + 8)


def test_causal_pairs_follow_sdpa_top_left_alignment():
    dense = torch.ones(7, 4).tril().sum()  # what is_causal=True masks for 7 queries over 4 keys
    assert causal_pairs(7, 4) == int(dense)
    assert causal_pairs(4, 7) == int(torch.ones(4, 7).tril().sum())
    assert attention_macs((1, 2, 3, 4), (1, 1, 3, 4), (1, 1, 3, 5), is_causal=True) == 2 * 6 * 9


def test_four_bit_layers_are_counted_like_the_layers_they_replace():
    pytest.importorskip("bitsandbytes")
    from crosslmm_cli.bench.build import random_model

    config = config_for_shape("tiny")
    dense = random_model(config, "32bit", torch.device("cpu"))
    quantized = random_model(config, "4bit", torch.device("cpu"))
    assert count(quantized, 2, 4) == count(dense, 2, 4)
