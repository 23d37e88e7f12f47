"""The dual cross-attention: V2V for visual positions, T2V for every other position.

One `CrossLMMDualCrossAttention` sits inside each LLM layer listed in
`CrossLMMConfig.cross_attention_layers`, between self-attention and the MLP:

    x = norm(h)
    visual positions: c = V2V(q=x, k/v = visual tokens of the same frame)   (v2v_scope="frame")
    other positions:  c = T2V(q=x, k/v = visual tokens of all frames)
    h = h + tanh(gate) * c          # gate_v2v / gate_t2v, initialised to 0

Heads follow the LLM (grouped-query K/V); no rotary embedding (as in Flamingo and Mllama).
Attention always goes through `scaled_dot_product_attention` with the query heads that share a
K/V head folded into the query length, so K/V are never repeated per head and no
text x all-visual-tokens score matrix is materialised in fp32.
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import torch
from torch import nn
from torch.nn import functional as F
from transformers.models.qwen2.modeling_qwen2 import Qwen2RMSNorm

from .cache import CrossLMMCache
from .configuration import CrossLMMConfig


#: Visual tokens projected per step (projector, K/V norm and projections). The K/V norm works in
#: float32, so a step's transient memory is ~10 bytes x tokens x width: with frames of 729 tokens and
#: the 7B width that is 73 MB for 2048 tokens, where 16 frames at once took 418 MB.
PROJECTION_CHUNK_TOKENS = 2048


def frames_per_chunk(tokens_per_frame: int) -> int:
    """Whole frames per projection step: as many as fit in PROJECTION_CHUNK_TOKENS, at least one."""
    return max(1, PROJECTION_CHUNK_TOKENS // max(1, tokens_per_frame))


class CrossLMMFrameTimeEmbedding(nn.Module):
    """Where each frame sits in the sampled clip, as an offset for its K/V source tokens.

    A frame's relative position p in [0, 1] (first to last sampled frame) becomes sinusoids at
    `num_frequencies` frequencies (pi/2 * k, k = 1.., so the lowest is monotone over the clip)
    and then a linear map to the K/V source width. The map starts at zero: a no-op until trained.
    """

    def __init__(self, dim: int, num_frequencies: int = 8):
        super().__init__()
        # (D, 2K), applied as a linear map without bias. The module holds nothing else (no buffer):
        # transformers then counts it as loaded from a checkpoint and never re-initialises it.
        self.weight = nn.Parameter(torch.zeros(dim, 2 * num_frequencies))

    def forward(self, num_frames: int) -> torch.Tensor:
        """(T, D) offsets for T sampled frames."""
        device = self.weight.device
        place = torch.linspace(0.0, 1.0, num_frames, device=device) if num_frames > 1 else torch.zeros(1, device=device)
        frequencies = torch.arange(1, self.weight.shape[1] // 2 + 1, device=device, dtype=torch.float32) * (math.pi / 2)
        angles = place[:, None] * frequencies[None, :]  # (T, K)
        return F.linear(torch.cat([angles.sin(), angles.cos()], dim=-1).to(self.weight.dtype), self.weight)


@dataclass
class VisualContext:
    """What the cross-attention layers need for one forward pass.

    kv_source: (B, T, N_kv, D_src) tokens K/V are projected from; present in prefill (or without a
        cache), absent in decoding steps, where the T2V K/V come from `cache`.
    visual_mask: (B, S) bool, positions of the current input that are frame tokens (V2V queries);
        None when the input holds none (decoding steps). Every row holds `num_frames *
        tokens_per_frame` of them, laid out frame after frame.
    """

    kv_source: torch.Tensor | None
    visual_mask: torch.Tensor | None
    num_frames: int
    tokens_per_frame: int
    blocks: frozenset[str]
    v2v_scope: str
    cache: CrossLMMCache | None
    kv_dtype: torch.dtype | None
    chunk_frames: int

    def t2v_key_values(self, layer_idx: int, block: CrossLMMCrossAttention) -> tuple[torch.Tensor, torch.Tensor] | None:
        """T2V K/V: projected once (prefill) and kept in the cache for every later step."""
        if self.kv_source is None:
            return self.cache.get_cross_attention(layer_idx) if self.cache is not None else None
        key_values = block.project_key_values(self.kv_source, self.chunk_frames, self.kv_dtype)
        if self.cache is not None:
            self.cache.set_cross_attention(layer_idx, *key_values)
        return key_values


class CrossLMMCrossAttention(nn.Module):
    """One cross-attention block: queries from the LLM stream, keys/values from visual tokens."""

    def __init__(self, config: CrossLMMConfig, source_dim: int):
        super().__init__()
        text = config.text_config
        self.num_heads = text.num_attention_heads
        self.num_key_value_heads = text.num_key_value_heads
        self.num_key_value_groups = self.num_heads // self.num_key_value_heads
        self.head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
        self.q_proj = nn.Linear(text.hidden_size, self.num_heads * self.head_dim, bias=True)
        self.k_proj = nn.Linear(source_dim, self.num_key_value_heads * self.head_dim, bias=True)
        self.v_proj = nn.Linear(source_dim, self.num_key_value_heads * self.head_dim, bias=True)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, text.hidden_size, bias=False)
        # Normalises the visual tokens before k/v, as the layer's input norm does for self-attention.
        self.kv_norm = Qwen2RMSNorm(source_dim, eps=text.rms_norm_eps)

    def project_key_values(
        self, source: torch.Tensor, chunk_frames: int, storage_dtype: torch.dtype | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, N, D_src) -> key, value, each (B, H_kv, T, N, head_dim), a chunk of frames at a time."""
        batch, frames, tokens, _ = source.shape
        shape = (batch, self.num_key_value_heads, frames, tokens, self.head_dim)
        # Stored in `storage_dtype` (e.g. float8 for very long videos), cast back when attended to.
        dtype = storage_dtype or source.dtype
        key = source.new_empty(shape, dtype=dtype)
        value = source.new_empty(shape, dtype=dtype)
        for start in range(0, frames, chunk_frames):
            chunk = self.kv_norm(source[:, start : start + chunk_frames])
            n = chunk.shape[1]
            # (B, n, N, H_kv*hd) -> (B, H_kv, n, N, hd)
            key[:, :, start : start + n] = self.k_proj(chunk).view(batch, n, tokens, self.num_key_value_heads, -1).permute(0, 3, 1, 2, 4)
            value[:, :, start : start + n] = self.v_proj(chunk).view(batch, n, tokens, self.num_key_value_heads, -1).permute(0, 3, 1, 2, 4)
        return key, value

    def attend_all_frames(self, hidden: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Every query reads every frame's tokens. hidden (B, L, D) -> (B, L, D)."""
        batch, length, _ = hidden.shape
        kv_heads, groups = self.num_key_value_heads, self.num_key_value_groups
        # (B, L, H*hd) -> (B, H_kv, groups*L, hd): query heads that share a K/V head become one longer query.
        query = self.q_proj(hidden).view(batch, length, kv_heads, groups, self.head_dim).permute(0, 2, 3, 1, 4)
        query = query.reshape(batch, kv_heads, groups * length, self.head_dim)
        key = key.reshape(batch, kv_heads, -1, self.head_dim).to(query.dtype)  # (B, H_kv, T*N, hd)
        value = value.reshape(batch, kv_heads, -1, self.head_dim).to(query.dtype)
        out = F.scaled_dot_product_attention(query, key, value)  # (B, H_kv, groups*L, hd)
        out = out.view(batch, kv_heads, groups, length, self.head_dim).permute(0, 3, 1, 2, 4)
        return self.o_proj(out.reshape(batch, length, -1))

    def attend_own_frame_chunked(self, hidden: torch.Tensor, source: torch.Tensor, chunk_frames: int) -> torch.Tensor:
        """`attend_own_frame` with K/V projected a chunk of frames at a time and dropped after use.

        Frames never read each other here, so V2V needs no K/V of all frames at once: they would
        cost 2*T*N*kv_dim values per layer (382 MB at 256 frames for the 7B shape), for nothing.
        hidden (B, T, Q, D), source (B, T, N, D_src) -> (B, T*Q, D). K/V stay in the compute dtype:
        they are not cached, so `cross_attention_kv_dtype` (a storage dtype) does not apply.
        """
        outputs = []
        for start in range(0, hidden.shape[1], chunk_frames):
            stop = start + chunk_frames
            key, value = self.project_key_values(source[:, start:stop], chunk_frames)
            outputs.append(self.attend_own_frame(hidden[:, start:stop], key, value))  # (B, n*Q, D)
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)

    def attend_own_frame(self, hidden: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Frame t's queries read frame t's tokens only. hidden (B, T, Q, D) -> (B, T*Q, D)."""
        batch, frames, queries, _ = hidden.shape
        kv_heads, groups = self.num_key_value_heads, self.num_key_value_groups
        tokens = key.shape[3]
        # (B, T, Q, H*hd) -> (B*H_kv*T, 1, groups*Q, hd), matching key (B, H_kv, T, N, hd) -> (B*H_kv*T, 1, N, hd)
        query = self.q_proj(hidden).view(batch, frames, queries, kv_heads, groups, self.head_dim)
        query = query.permute(0, 3, 1, 4, 2, 5).reshape(batch * kv_heads * frames, 1, groups * queries, self.head_dim)
        key = key.reshape(batch * kv_heads * frames, 1, tokens, self.head_dim).to(query.dtype)
        value = value.reshape(batch * kv_heads * frames, 1, tokens, self.head_dim).to(query.dtype)
        out = F.scaled_dot_product_attention(query, key, value)
        out = out.view(batch, kv_heads, frames, groups, queries, self.head_dim).permute(0, 2, 4, 1, 3, 5)
        return self.o_proj(out.reshape(batch, frames * queries, -1))


class CrossLMMDualCrossAttention(nn.Module):
    """V2V and T2V blocks with their own weights and tanh gates, sharing one input norm."""

    def __init__(self, config: CrossLMMConfig):
        super().__init__()
        text = config.text_config
        source_dim = text.hidden_size if config.kv_source == "projected" else config.vision_config.hidden_size
        self.norm = Qwen2RMSNorm(text.hidden_size, eps=text.rms_norm_eps)
        blocks = set(config.cross_attention_blocks)
        self.v2v = CrossLMMCrossAttention(config, source_dim) if "v2v" in blocks else None
        self.t2v = CrossLMMCrossAttention(config, source_dim) if "t2v" in blocks else None
        # tanh(0) = 0: a fresh or converted model computes exactly what its base LLM computes.
        self.gate_v2v = nn.Parameter(torch.zeros(1)) if self.v2v is not None else None
        self.gate_t2v = nn.Parameter(torch.zeros(1)) if self.t2v is not None else None

    def forward(self, hidden_states: torch.Tensor, context: VisualContext, layer_idx: int) -> torch.Tensor:
        batch, length, dim = hidden_states.shape
        x = self.norm(hidden_states)
        visual_mask = context.visual_mask
        v2v_delta = t2v_delta = None

        if self.v2v is not None and "v2v" in context.blocks and visual_mask is not None and context.kv_source is not None:
            frames, per_frame = context.num_frames, context.tokens_per_frame
            visual = x[visual_mask].view(batch, frames, per_frame, dim)
            if context.v2v_scope == "frame":
                out = self.v2v.attend_own_frame_chunked(visual, context.kv_source, context.chunk_frames)
            else:
                key, value = self.v2v.project_key_values(context.kv_source, context.chunk_frames)
                out = self.v2v.attend_all_frames(visual.view(batch, frames * per_frame, dim), key, value)
                del key, value  # before T2V projects its own
            v2v_delta = torch.tanh(self.gate_v2v).to(out.dtype) * out

        if self.t2v is not None and "t2v" in context.blocks:
            key_values = context.t2v_key_values(layer_idx, self.t2v)
            if key_values is not None:
                text = x if visual_mask is None else x[~visual_mask].view(batch, -1, dim)
                out = self.t2v.attend_all_frames(text, *key_values)
                t2v_delta = torch.tanh(self.gate_t2v).to(out.dtype) * out

        if visual_mask is None:
            return hidden_states if t2v_delta is None else hidden_states + t2v_delta
        delta = hidden_states.new_zeros(hidden_states.shape)
        if v2v_delta is not None:
            delta = delta.masked_scatter(visual_mask[..., None], v2v_delta)
        if t2v_delta is not None:
            delta = delta.masked_scatter(~visual_mask[..., None], t2v_delta)
        return hidden_states + delta
