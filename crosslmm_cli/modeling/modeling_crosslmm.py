"""CrossLMM: vision encoder -> pooled tokens into the LLM, unpooled tokens into cross-attention.

Calling convention follows transformers' `LlavaOnevisionForConditionalGeneration` for video
(`input_ids`, `pixel_values_videos` (B, T, 3, H, W), `attention_mask`, `past_key_values`, ...),
plus `video_features` to pass precomputed encoder features (encode a video once, ask many
questions), and per-call switches that leave the weights alone: `tokens_per_frame`, `pooling`
and `cross_attention` (which blocks run; `[]` shuts them). One set of weights thereby serves as
the few-token model, the full-token baseline (bench) and the distillation teacher.
"""


import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModel, GenerationMixin, PreTrainedModel
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.modeling_utils import slice_logits_to_keep

from .cache import CACHE_KWARG, CrossLMMCache
from .configuration import CROSS_ATTENTION_BLOCKS, CrossLMMConfig, square_side
from .cross_attention import CrossLMMDualCrossAttention, CrossLMMFrameTimeEmbedding, VisualContext, frames_per_chunk
from .pooling import pool_grid
from .text_model import CrossLMMTextModel
from .vision import FrameEncoder


@dataclass
class CrossLMMCausalLMOutputWithPast(CausalLMOutputWithPast):
    """video_hidden_states: (B, T*s*s [+1], D) the pooled visual tokens that entered the LLM."""

    video_hidden_states: torch.Tensor | None = None


class CrossLMMMultiModalProjector(nn.Module):
    """Two-layer MLP from the encoder width to the LLM width (LLaVA-OneVision's, same weight names)."""

    def __init__(self, config: CrossLMMConfig):
        super().__init__()
        vision_dim, text_dim = config.vision_config.hidden_size, config.text_config.hidden_size
        self.linear_1 = nn.Linear(vision_dim, text_dim, bias=config.multimodal_projector_bias)
        self.act = ACT2FN[config.projector_hidden_act]
        self.linear_2 = nn.Linear(text_dim, text_dim, bias=config.multimodal_projector_bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(features)))


class CrossLMMPreTrainedModel(PreTrainedModel):
    config: CrossLMMConfig
    base_model_prefix = "model"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["CrossLMMDecoderLayer", "SiglipEncoderLayer", "Siglip2EncoderLayer"]
    _skip_keys_device_placement = ["past_key_values", "cache"]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_attention_backend = True

    def __init__(self, config: CrossLMMConfig, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        # The LLM is not a PreTrainedModel of its own here, so nothing else hands it the attention
        # implementation resolved for the whole model (SDPA by default).
        if config.text_config._attn_implementation is None:
            config.text_config._attn_implementation_internal = config._attn_implementation

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, CrossLMMDualCrossAttention):
            for gate in (module.gate_v2v, module.gate_t2v):
                if gate is not None:
                    gate.zero_()
        elif isinstance(module, CrossLMMFrameTimeEmbedding):
            module.weight.zero_()
        elif isinstance(module, CrossLMMModel) and module.video_newline is not None:
            module.video_newline.normal_(mean=0.0, std=1 / math.sqrt(self.config.text_config.hidden_size))


class CrossLMMModel(CrossLMMPreTrainedModel):
    def __init__(self, config: CrossLMMConfig):
        super().__init__(config)
        self.vision_tower = AutoModel.from_config(config.vision_config)
        self.multi_modal_projector = CrossLMMMultiModalProjector(config)
        hidden = config.text_config.hidden_size
        self.video_newline = nn.Parameter(torch.zeros(hidden)) if config.video_newline else None
        source_dim = hidden if config.kv_source == "projected" else config.vision_config.hidden_size
        self.kv_time_embedding = CrossLMMFrameTimeEmbedding(source_dim) if config.kv_time_embedding else None
        self.language_model = CrossLMMTextModel(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.language_model.embed_tokens

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.language_model.embed_tokens = value

    def get_video_features(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> encoder features (B, T, N, D_v), `vision_chunk_size` frames at a time.

        These are what a caller caches to ask several questions about one video.
        """
        if pixel_values_videos.ndim != 5:
            raise ValueError(f"pixel_values_videos must be (batch, frames, 3, H, W), got {tuple(pixel_values_videos.shape)}")
        batch, frames = pixel_values_videos.shape[:2]
        encoder = FrameEncoder(self.vision_tower, self.config.num_encoder_layers_used, self.config.vision_chunk_size)
        features = encoder(pixel_values_videos.flatten(0, 1))
        return features.view(batch, frames, *features.shape[1:])

    def prepare_video_tokens(
        self, video_features: torch.Tensor, tokens_per_frame: int, with_key_values: bool, pooling: str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encoder features (B, T, N, D_v) -> pooled LLM tokens (B, T*s*s [+1 newline], D) and the
        cross-attention K/V source (B, T, N_kv, D_src), computed a few frames at a time (about
        PROJECTION_CHUNK_TOKENS tokens) so the projector's activations on the full grid never exist
        for more than a few frames at once."""
        config = self.config
        batch, frames, tokens, _ = video_features.shape
        grid, side, kv_side = config.vision_grid_side, math.isqrt(tokens_per_frame), config.kv_grid_side
        if tokens != grid * grid:
            raise ValueError(f"video_features hold {tokens} tokens per frame, the encoder makes {grid * grid}")
        dtype = self.get_input_embeddings().weight.dtype  # the compute dtype (embeddings are never quantized)
        flat = video_features.flatten(0, 1)  # (B*T, N, D_v)
        text_dim = config.text_config.hidden_size
        source_dim = text_dim if config.kv_source == "projected" else config.vision_config.hidden_size
        pooled = flat.new_empty((batch * frames, side * side, text_dim), dtype=dtype)
        kv_source = flat.new_empty((batch * frames, kv_side * kv_side, source_dim), dtype=dtype) if with_key_values else None
        mode = pooling or config.pooling
        project, pool = self.multi_modal_projector, lambda x, s: pool_grid(x, grid, s, mode)
        step = frames_per_chunk(grid * grid)
        for start in range(0, batch * frames, step):
            chunk = flat[start : start + step].to(dtype)
            stop = start + chunk.shape[0]
            if config.pool_position == "after_projector":
                projected = project(chunk)
                pooled[start:stop] = pool(projected, side)
                if kv_source is not None:
                    kv_source[start:stop] = pool(projected if config.kv_source == "projected" else chunk, kv_side)
            else:
                pooled[start:stop] = project(pool(chunk, side))
                if kv_source is not None:
                    kv_chunk = pool(chunk, kv_side)
                    kv_source[start:stop] = project(kv_chunk) if config.kv_source == "projected" else kv_chunk
        pooled = pooled.view(batch, frames * side * side, text_dim)
        if self.video_newline is not None:
            pooled = torch.cat([pooled, self.video_newline.to(dtype).expand(batch, 1, text_dim)], dim=1)
        if kv_source is not None:
            kv_source = kv_source.view(batch, frames, kv_side * kv_side, source_dim)
            if self.kv_time_embedding is not None:
                kv_source = kv_source + self.kv_time_embedding(frames).to(dtype)[None, :, None, :]
        return pooled, kv_source

    def _active_blocks(self, cross_attention: Sequence[str] | None) -> frozenset[str]:
        built = set(self.config.cross_attention_blocks) if self.config.cross_attention_layers else set()
        if cross_attention is None:
            return frozenset(built)
        unknown = set(cross_attention) - set(CROSS_ATTENTION_BLOCKS)
        if unknown:
            raise ValueError(f"cross_attention must be a subset of {CROSS_ATTENTION_BLOCKS}, got {list(cross_attention)}")
        return frozenset(set(cross_attention) & built)

    def _frame_token_mask(self, input_ids: torch.Tensor, frames: int, tokens_per_frame: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks (B, S) of all video placeholder positions and of the frame-token positions among them."""
        video_mask = input_ids == self.config.video_token_id
        expected = self.config.video_placeholder_length(frames, tokens_per_frame)
        counts = video_mask.sum(dim=1)
        if bool((counts != expected).any()):
            raise ValueError(
                f"each sequence must hold exactly {expected} video tokens for {frames} frames at "
                f"{tokens_per_frame} tokens per frame (+newline), found {counts.tolist()}"
            )
        rank = torch.cumsum(video_mask.int(), dim=1)  # 1-based rank among video tokens; the newline comes last
        return video_mask, video_mask & (rank <= frames * tokens_per_frame)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        video_features: torch.Tensor | None = None,
        tokens_per_frame: int | None = None,
        cross_attention: Sequence[str] | None = None,
        pooling: str | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, Cache | None, tuple | None, torch.Tensor | None]:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        if pixel_values_videos is not None and video_features is not None:
            raise ValueError("pass pixel_values_videos or video_features, not both")
        config = self.config
        tokens_per_frame = config.tokens_per_frame if tokens_per_frame is None else int(tokens_per_frame)
        if square_side(tokens_per_frame, "tokens_per_frame") > config.vision_grid_side:
            raise ValueError(f"tokens_per_frame={tokens_per_frame} exceeds the encoder's grid")
        blocks = self._active_blocks(cross_attention)
        use_cache = config.text_config.use_cache if use_cache is None else use_cache
        if use_cache and past_key_values is None:
            past_key_values = CrossLMMCache(config=config.text_config)
        cache = past_key_values if isinstance(past_key_values, CrossLMMCache) else None
        if past_key_values is not None and cache is None and blocks:
            raise TypeError("CrossLMM keeps cross-attention K/V in its cache: pass a CrossLMMCache, not "
                            f"{type(past_key_values).__name__}")
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)

        context, video_tokens = None, None
        if pixel_values_videos is not None:
            video_features = self.get_video_features(pixel_values_videos)
        if video_features is not None:
            if input_ids is None:
                raise ValueError("video input needs input_ids to locate the video placeholder tokens")
            frames = video_features.shape[1]
            video_features = video_features.to(inputs_embeds.device)
            video_tokens, kv_source = self.prepare_video_tokens(video_features, tokens_per_frame, bool(blocks), pooling)
            # The encoder output (T*729 x D_v) is not needed past this point: when we computed it from
            # pixels, nothing else holds it, and dropping it here frees it before the LLM's peak.
            video_features = None
            video_mask, frame_mask = self._frame_token_mask(input_ids, frames, tokens_per_frame)
            inputs_embeds = inputs_embeds.masked_scatter(video_mask[..., None], video_tokens.to(inputs_embeds.dtype))
            if blocks:
                context = self._visual_context(kv_source, frame_mask, frames, tokens_per_frame, blocks, cache)
        elif blocks and cache is not None and cache.cross_attention:
            context = self._visual_context(None, None, 0, tokens_per_frame, blocks, cache)

        outputs = self.language_model(
            inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            use_cache=use_cache,
            visual_context=context,
            output_hidden_states=bool(output_hidden_states),
            **kwargs,
        )
        return outputs.last_hidden_state, getattr(outputs, CACHE_KWARG), outputs.hidden_states, video_tokens

    def _visual_context(self, kv_source, frame_mask, frames, tokens_per_frame, blocks, cache) -> VisualContext:
        kv_dtype = self.config.cross_attention_kv_dtype
        return VisualContext(
            kv_source=kv_source,
            visual_mask=frame_mask,
            num_frames=frames,
            tokens_per_frame=tokens_per_frame,
            blocks=blocks,
            v2v_scope=self.config.v2v_scope,
            cache=cache,
            kv_dtype=getattr(torch, kv_dtype) if kv_dtype else None,
            chunk_frames=frames_per_chunk(self.config.kv_grid_side**2),
        )


class CrossLMMForConditionalGeneration(CrossLMMPreTrainedModel, GenerationMixin):
    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}

    def __init__(self, config: CrossLMMConfig):
        super().__init__(config)
        self.model = CrossLMMModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def get_video_features(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """Encoder features (B, T, N, D_v) of preprocessed frames; pass them back as `video_features`."""
        return self.model.get_video_features(pixel_values_videos)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        video_features: torch.Tensor | None = None,
        tokens_per_frame: int | None = None,
        cross_attention: Sequence[str] | None = None,
        pooling: str | None = None,
        output_hidden_states: bool | None = None,
        **kwargs,
    ) -> CrossLMMCausalLMOutputWithPast:
        for unused in ("return_dict", "output_attentions"):  # sent by generate(); we return a dataclass, SDPA has no weights
            kwargs.pop(unused, None)
        if "cache" in kwargs:  # transformers >= 5.24 calls it `cache`
            past_key_values = kwargs.pop("cache")
        hidden_states, cache, all_hidden, video_tokens = self.model(
            input_ids=input_ids,
            pixel_values_videos=pixel_values_videos,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            video_features=video_features,
            tokens_per_frame=tokens_per_frame,
            cross_attention=cross_attention,
            pooling=pooling,
            output_hidden_states=output_hidden_states,
            **kwargs,
        )
        logits = self.lm_head(slice_logits_to_keep(hidden_states, logits_to_keep))
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.text_config.vocab_size)
        return CrossLMMCausalLMOutputWithPast(
            loss=loss, logits=logits, hidden_states=all_hidden, video_hidden_states=video_tokens, **{CACHE_KWARG: cache}
        )

    def prepare_inputs_for_generation(self, *args, is_first_iteration: bool | None = False, **kwargs):
        model_inputs = super().prepare_inputs_for_generation(*args, is_first_iteration=is_first_iteration, **kwargs)
        if not is_first_iteration and kwargs.get("use_cache", True):
            # The video entered the cache in prefill (cross-attention K/V, pooled tokens in the self-attention K/V).
            model_inputs.pop("video_features", None)
        return model_inputs

    def _prepare_cache_for_generation(self, generation_config, model_kwargs, *args, **kwargs):
        super()._prepare_cache_for_generation(generation_config, model_kwargs, *args, **kwargs)
        cache = model_kwargs.get(CACHE_KWARG)
        if type(cache) is DynamicCache and not getattr(cache, "_is_user_defined", False):
            model_kwargs[CACHE_KWARG] = CrossLMMCache(
                config=self.config.get_text_config(decoder=True), offloading=cache.offloading
            )
        elif cache is not None and not isinstance(cache, CrossLMMCache):
            raise ValueError(f"CrossLMM generates with its dynamic cache only, not {type(cache).__name__}")
