"""The LLM: a Qwen2 decoder whose chosen layers carry a dual cross-attention block.

The decoder layers are transformers' own Qwen2 layers (same modules, same weight names), with the
cross-attention inserted between self-attention and the MLP. A LLaVA-OneVision or Qwen2 checkpoint
therefore loads into this model unchanged, and with zero gates it computes exactly what Qwen2 does.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.cache_utils import Cache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_outputs import BaseModelOutputWithPast
from transformers.models.qwen2.modeling_qwen2 import Qwen2DecoderLayer, Qwen2RMSNorm, Qwen2RotaryEmbedding

from .cache import CACHE_KWARG
from .configuration import CrossLMMConfig
from .cross_attention import CrossLMMDualCrossAttention, VisualContext


class CrossLMMDecoderLayer(Qwen2DecoderLayer):
    """Qwen2 layer: self-attention, then (in cross-attention layers) the dual cross-attention, then the MLP."""

    def __init__(self, config: CrossLMMConfig, layer_idx: int):
        super().__init__(config.text_config, layer_idx)
        self.layer_idx = layer_idx
        has_cross = layer_idx in config.cross_attention_layers
        self.cross_attn = CrossLMMDualCrossAttention(config) if has_cross else None

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool | None = False,
        position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None,
        visual_context: VisualContext | None = None,
        **kwargs,
    ) -> torch.Tensor:
        residual = hidden_states
        hidden_states = self.input_layernorm(hidden_states)
        hidden_states, _ = self.self_attn(
            hidden_states=hidden_states,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=use_cache,
            position_embeddings=position_embeddings,
            **{CACHE_KWARG: past_key_values},
            **kwargs,
        )
        hidden_states = residual + hidden_states

        if self.cross_attn is not None and visual_context is not None:
            hidden_states = self.cross_attn(hidden_states, visual_context, self.layer_idx)

        residual = hidden_states
        hidden_states = self.post_attention_layernorm(hidden_states)
        hidden_states = self.mlp(hidden_states)
        return residual + hidden_states


class CrossLMMTextModel(nn.Module):
    """Qwen2Model's structure and forward (same weight names), with `CrossLMMDecoderLayer`s."""

    def __init__(self, config: CrossLMMConfig):
        super().__init__()
        text = config.text_config
        self.config = text  # masks and rotary embeddings read the LLM's own config
        self.padding_idx = text.pad_token_id
        self.embed_tokens = nn.Embedding(text.vocab_size, text.hidden_size, self.padding_idx)
        self.layers = nn.ModuleList([CrossLMMDecoderLayer(config, i) for i in range(text.num_hidden_layers)])
        self.norm = Qwen2RMSNorm(text.hidden_size, eps=text.rms_norm_eps)
        self.rotary_emb = Qwen2RotaryEmbedding(config=text)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embed_tokens = value

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool | None = None,
        visual_context: VisualContext | None = None,
        output_hidden_states: bool = False,
        **kwargs,
    ) -> BaseModelOutputWithPast:
        if position_ids is None:
            past_seen = past_key_values.get_seq_length() if past_key_values is not None else 0
            position_ids = torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device) + past_seen
            position_ids = position_ids.unsqueeze(0)
        if isinstance(attention_mask, dict):  # already prepared by `generate`
            attention_mask = attention_mask["full_attention"]
        elif attention_mask is None or attention_mask.ndim == 2:
            attention_mask = create_causal_mask(
                config=self.config,
                inputs_embeds=inputs_embeds,
                attention_mask=attention_mask,
                position_ids=position_ids,
                **{CACHE_KWARG: past_key_values},
            )

        hidden_states = inputs_embeds
        position_embeddings = self.rotary_emb(hidden_states, position_ids)
        all_hidden_states = (hidden_states,) if output_hidden_states else None
        for layer in self.layers:
            hidden_states = layer(
                hidden_states,
                attention_mask=attention_mask,
                position_ids=position_ids,
                past_key_values=past_key_values,
                use_cache=use_cache,
                position_embeddings=position_embeddings,
                visual_context=visual_context,
                **kwargs,
            )
            if output_hidden_states:
                all_hidden_states += (hidden_states,)
        hidden_states = self.norm(hidden_states)
        return BaseModelOutputWithPast(
            last_hidden_state=hidden_states,
            hidden_states=all_hidden_states,
            **{CACHE_KWARG: past_key_values if use_cache else None},
        )
