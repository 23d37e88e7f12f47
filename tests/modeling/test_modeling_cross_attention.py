"""The SDPA cross-attention (query heads folded per K/V head) against a naive per-head reference."""

from __future__ import annotations

import torch
from modeling_fixtures import tiny_config

from crosslmm_cli.modeling.cross_attention import CrossLMMCrossAttention


def naive_attention(block: CrossLMMCrossAttention, hidden: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Textbook multi-head attention in float64: every query head reads its K/V head (repeat_kv)."""
    block = block.double()
    hidden, source = hidden.double(), source.double()
    heads, kv_heads, dim = block.num_heads, block.num_key_value_heads, block.head_dim
    q = block.q_proj(hidden).view(*hidden.shape[:-1], heads, dim).transpose(-3, -2)  # (..., H, L, hd)
    normed = block.kv_norm(source)
    k = block.k_proj(normed).view(*source.shape[:-1], kv_heads, dim).transpose(-3, -2)
    v = block.v_proj(normed).view(*source.shape[:-1], kv_heads, dim).transpose(-3, -2)
    k = k.repeat_interleave(heads // kv_heads, dim=-3)
    v = v.repeat_interleave(heads // kv_heads, dim=-3)
    weights = torch.softmax(q @ k.transpose(-1, -2) / dim**0.5, dim=-1)
    out = (weights @ v).transpose(-3, -2).reshape(*hidden.shape[:-1], heads * dim)
    return block.o_proj(out)


def make_block(seed=0):
    torch.manual_seed(seed)
    config = tiny_config(text_config={"num_attention_heads": 8, "num_key_value_heads": 2})
    block = CrossLMMCrossAttention(config, source_dim=32)
    with torch.no_grad():
        block.kv_norm.weight.uniform_(0.5, 1.5)
    return block


def test_attend_all_frames_matches_naive_attention():
    block = make_block()
    hidden, source = torch.randn(2, 5, 32), torch.randn(2, 3, 16, 32)  # (B, L, D), (B, T, N, D)
    key, value = block.project_key_values(source, chunk_frames=2)
    got = block.attend_all_frames(hidden, key, value)
    expected = naive_attention(block, hidden, source.flatten(1, 2))
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)


def test_attend_own_frame_matches_naive_attention_per_frame():
    block = make_block(1)
    hidden, source = torch.randn(2, 3, 4, 32), torch.randn(2, 3, 16, 32)  # (B, T, Q, D), (B, T, N, D)
    key, value = block.project_key_values(source, chunk_frames=1)
    got = block.attend_own_frame(hidden, key, value).view(2, 3, 4, 32)
    for frame in range(3):
        expected = naive_attention(block, hidden[:, frame], source[:, frame])
        torch.testing.assert_close(got[:, frame].double(), expected, rtol=1e-5, atol=1e-5)


def test_key_value_chunking_is_exact():
    block = make_block(2)
    source = torch.randn(1, 7, 16, 32)
    for a, b in zip(block.project_key_values(source, 1), block.project_key_values(source, 7)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
