"""The generation cache: the LLM's self-attention K/V plus the text-to-visual cross-attention K/V.

T2V keys and values depend only on the video, so they are projected once in prefill and then read
at every decoding step. Keeping them in the cache object (not on the model) means they follow the
batch through beam-search reordering, batch selection and repetition like every other cached
tensor, and are freed with the cache. V2V K/V are not kept: visual positions only exist in prefill.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.modeling_outputs import CausalLMOutputWithPast

#: The name transformers gives the generation cache in model outputs, forward arguments and
#: `generate()`'s model kwargs: `cache` from 5.24 on, `past_key_values` before. Our own forward
#: accepts both; calls into transformers use this one, so neither version warns.
CACHE_KWARG = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


class CrossLMMCache(DynamicCache):
    """`DynamicCache` with one (key, value) pair of T2V cross-attention states per cross-attention layer.

    Cross-attention states have shape (batch, kv_heads, frames, kv_tokens_per_frame, head_dim) and may be
    stored in a narrower dtype than the model computes in (`CrossLMMConfig.cross_attention_kv_dtype`).
    `crop` (assisted decoding) leaves them alone: they do not grow with the sequence.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cross_attention: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def get_cross_attention(self, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        return self.cross_attention.get(layer_idx)

    def set_cross_attention(self, layer_idx: int, key: torch.Tensor, value: torch.Tensor) -> None:
        self.cross_attention[layer_idx] = (key, value)

    @property
    def cross_attention_nbytes(self) -> int:
        """Bytes held by the cross-attention states (what dominates memory for long videos)."""
        return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in self.cross_attention.values())

    def _map_cross_attention(self, fn) -> None:
        self.cross_attention = {idx: (fn(k), fn(v)) for idx, (k, v) in self.cross_attention.items()}

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        super().reorder_cache(beam_idx)
        self._map_cross_attention(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        super().batch_repeat_interleave(repeats)
        self._map_cross_attention(lambda t: t.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        super().batch_select_indices(indices)
        self._map_cross_attention(lambda t: t[indices])

    def reset(self) -> None:
        super().reset()
        self.cross_attention.clear()
