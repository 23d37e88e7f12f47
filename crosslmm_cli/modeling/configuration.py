"""CrossLMM configuration: a SigLIP-family vision encoder, a Qwen2-family LLM, and how they meet.

The fields follow ../shared/design/architecture.md. Architecture choices that the paper leaves open
are fields here (never flags threaded through calls); every bad value raises `ValueError` naming
the field, so a hand-edited `config.json` fails loudly at load time instead of deep in a forward.
"""

from __future__ import annotations

import math

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

POOLING_MODES = ("area", "bilinear")
POOL_POSITIONS = ("before_projector", "after_projector")
V2V_SCOPES = ("frame", "video")
KV_SOURCES = ("projected", "vision")
CROSS_ATTENTION_BLOCKS = ("v2v", "t2v")
KV_STORAGE_DTYPES = ("bfloat16", "float16", "float32", "float8_e4m3fn", "float8_e5m2")
VISION_MODEL_TYPES = ("siglip_vision_model", "siglip2_vision_model")
TEXT_MODEL_TYPES = ("qwen2",)

#: The default insertion period K of the dual cross-attention (paper, Table 2b).
DEFAULT_CROSS_ATTENTION_PERIOD = 4


def every_kth_layer(num_layers: int, k: int = DEFAULT_CROSS_ATTENTION_PERIOD) -> list[int]:
    """Layers K-1, 2K-1, ... (0-based): the last layer of each group of K, as in Table 2b."""
    if k < 1:
        raise ValueError(f"cross-attention period must be >= 1, got {k}")
    return list(range(k - 1, num_layers, k))


def square_side(tokens: int, field: str) -> int:
    """Pooled grids are square (s x s): `tokens` must be a perfect square."""
    side = math.isqrt(tokens) if tokens > 0 else 0
    if tokens < 1 or side * side != tokens:
        raise ValueError(f"{field} must be a positive perfect square (1, 4, 9, 16, ..., 196), got {tokens}")
    return side


class CrossLMMConfig(PreTrainedConfig):
    r"""
    Configuration of a CrossLMM model.

    vision_config: SigLIP (`siglip_vision_model`, also SigLIP2 fixed-resolution checkpoints) or
        SigLIP2 NaFlex (`siglip2_vision_model`) vision encoder.
    text_config: Qwen2-family LLM (`qwen2`, which covers Qwen2 and Qwen2.5).
    tokens_per_frame: pooled visual tokens per frame that enter the LLM (s*s; 1, 4, 9, 16, ...).
    kv_tokens_per_frame: tokens per frame the cross-attention reads as keys/values; None = the
        encoder's full grid (729 for SigLIP-384/14). A smaller grid (e.g. 196) cuts K/V memory
        for very long videos.
    pooling: "area" (adaptive average, what the paper describes) or "bilinear" (LLaVA-OneVision).
    pool_position: "before_projector" (paper) or "after_projector" (LLaVA-OneVision).
    cross_attention_layers: LLM layers (0-based) that hold a dual cross-attention block after
        self-attention; default every 4th layer ([3, 7, 11, ...]).
    cross_attention_blocks: which blocks those layers have: "v2v" (visual queries, K/V of their
        own frame or the whole video) and/or "t2v" (every other position, K/V of all frames).
    v2v_scope: "frame" (V2V reads its own frame only) or "video".
    kv_source: "projected" (the projector applied to the unpooled tokens; K/V in the LLM space)
        or "vision" (raw encoder features; k/v project from the encoder width).
    cross_attention_kv_dtype: storage dtype of the cached cross-attention K/V (None = the
        model's compute dtype); they are cast to the compute dtype when used.
    vision_feature_layer: which encoder hidden state feeds the model (-1 = last layer, before the
        post-layernorm, as LLaVA-OneVision does).
    vision_chunk_size: frames encoded per vision-encoder call, so 256+ frames never hold every
        activation at once (8 frames of SigLIP-so400m: ~140 MB of activations in 16-bit).
    video_token_id: id of the video placeholder token in the tokenizer.
    video_newline: append one learned embedding after the last frame (LLaVA-OneVision).
    kv_time_embedding: add a learned embedding of each frame's place in the sampled clip (0 for
        the first frame, 1 for the last) to the cross-attention K/V source. Without it T2V reads a
        bag of patches from all frames and cannot tell early from late (motion, order, when). Its
        projection starts at zero, so switching it on leaves a model's outputs unchanged.
    """

    model_type = "crosslmm"
    sub_configs_defaults = {
        "vision_config": SubConfigSpec(
            config_class=AutoConfig,
            model_type="siglip_vision_model",
            init_kwargs={
                "hidden_size": 1152,
                "intermediate_size": 4304,
                "patch_size": 14,
                "image_size": 384,
                "num_hidden_layers": 26,
                "num_attention_heads": 16,
                "vision_use_head": False,
            },
        ),
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="qwen2"),
    }

    vision_config: dict | PreTrainedConfig | None = None
    text_config: dict | PreTrainedConfig | None = None
    tokens_per_frame: int = 9
    kv_tokens_per_frame: int | None = None
    pooling: str = "area"
    pool_position: str = "before_projector"
    cross_attention_layers: list[int] | None = None
    cross_attention_blocks: list[str] | None = None
    v2v_scope: str = "frame"
    kv_source: str = "projected"
    cross_attention_kv_dtype: str | None = None
    vision_feature_layer: int = -1
    vision_chunk_size: int = 8
    video_token_id: int = 151647
    video_newline: bool = True
    kv_time_embedding: bool = False
    projector_hidden_act: str = "gelu"
    multimodal_projector_bias: bool = True
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if not self.tie_word_embeddings and getattr(self.text_config, "tie_word_embeddings", False):
            # Small Qwen2 models tie their input and output embeddings; keep that at the top level.
            self.tie_word_embeddings = True
        if self.cross_attention_layers is None:
            self.cross_attention_layers = every_kth_layer(self.text_config.num_hidden_layers)
        if self.cross_attention_blocks is None:
            self.cross_attention_blocks = list(CROSS_ATTENTION_BLOCKS)
        self.cross_attention_layers = [int(i) for i in self.cross_attention_layers]
        self.cross_attention_blocks = [str(b) for b in self.cross_attention_blocks]
        self._check_values()

    def _check_values(self) -> None:
        vision_type = getattr(self.vision_config, "model_type", None)
        if vision_type not in VISION_MODEL_TYPES:
            raise ValueError(f"vision_config.model_type must be one of {VISION_MODEL_TYPES}, got {vision_type!r}")
        text_type = getattr(self.text_config, "model_type", None)
        if text_type not in TEXT_MODEL_TYPES:
            raise ValueError(f"text_config.model_type must be one of {TEXT_MODEL_TYPES}, got {text_type!r}")
        if "sliding_attention" in (getattr(self.text_config, "layer_types", None) or []):
            raise ValueError("text_config: sliding-window attention layers are not supported (set use_sliding_window=false)")
        _check_choice("pooling", self.pooling, POOLING_MODES)
        _check_choice("pool_position", self.pool_position, POOL_POSITIONS)
        _check_choice("v2v_scope", self.v2v_scope, V2V_SCOPES)
        _check_choice("kv_source", self.kv_source, KV_SOURCES)
        if self.cross_attention_kv_dtype is not None:
            _check_choice("cross_attention_kv_dtype", self.cross_attention_kv_dtype, KV_STORAGE_DTYPES)
        grid = self.vision_grid_side
        side = square_side(self.tokens_per_frame, "tokens_per_frame")
        if side > grid:
            raise ValueError(f"tokens_per_frame={self.tokens_per_frame} exceeds the encoder's {grid}x{grid} grid")
        if self.kv_tokens_per_frame is not None:
            kv_side = square_side(self.kv_tokens_per_frame, "kv_tokens_per_frame")
            if kv_side > grid:
                raise ValueError(
                    f"kv_tokens_per_frame={self.kv_tokens_per_frame} exceeds the encoder's {grid}x{grid} grid"
                )
        num_layers = self.text_config.num_hidden_layers
        layers = self.cross_attention_layers
        if sorted(set(layers)) != layers:
            raise ValueError(f"cross_attention_layers must be strictly increasing without repeats, got {layers}")
        if layers and not (0 <= layers[0] and layers[-1] < num_layers):
            raise ValueError(f"cross_attention_layers must lie in [0, {num_layers - 1}], got {layers}")
        blocks = self.cross_attention_blocks
        if len(set(blocks)) != len(blocks) or any(b not in CROSS_ATTENTION_BLOCKS for b in blocks):
            raise ValueError(f"cross_attention_blocks must be a subset of {CROSS_ATTENTION_BLOCKS}, got {blocks}")
        num_encoder_layers = self.vision_config.num_hidden_layers
        if not -num_encoder_layers - 1 <= self.vision_feature_layer <= num_encoder_layers:
            raise ValueError(
                f"vision_feature_layer must lie in [-{num_encoder_layers + 1}, {num_encoder_layers}], "
                f"got {self.vision_feature_layer}"
            )
        if self.vision_chunk_size < 1:
            raise ValueError(f"vision_chunk_size must be >= 1, got {self.vision_chunk_size}")
        vocab = self.text_config.vocab_size
        if not 0 <= self.video_token_id < vocab:
            raise ValueError(f"video_token_id must lie in [0, {vocab - 1}], got {self.video_token_id}")

    @property
    def vision_grid_side(self) -> int:
        """Side of the encoder's patch grid (27 for a 384-pixel SigLIP with 14-pixel patches)."""
        if self.vision_config.model_type == "siglip2_vision_model":
            return math.isqrt(self.vision_config.num_patches)
        return self.vision_config.image_size // self.vision_config.patch_size

    @property
    def vision_image_size(self) -> int:
        """Square input size in pixels that frames are resized to."""
        if self.vision_config.model_type == "siglip2_vision_model":
            return self.vision_grid_side * self.vision_config.patch_size
        return self.vision_config.image_size

    @property
    def kv_grid_side(self) -> int:
        if self.kv_tokens_per_frame is None:
            return self.vision_grid_side
        return math.isqrt(self.kv_tokens_per_frame)

    @property
    def num_encoder_layers_used(self) -> int:
        """How many encoder layers run: layers past `vision_feature_layer` are never computed."""
        n = self.vision_config.num_hidden_layers
        layer = self.vision_feature_layer
        return layer if layer >= 0 else n + 1 + layer

    def video_placeholder_length(self, num_frames: int, tokens_per_frame: int | None = None) -> int:
        """Number of video tokens in the prompt for `num_frames` frames (T*s*s, +1 for the newline)."""
        tpf = self.tokens_per_frame if tokens_per_frame is None else tokens_per_frame
        return num_frames * tpf + int(self.video_newline)


def _check_choice(field: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{field} must be one of {choices}, got {value!r}")


__all__ = ["CrossLMMConfig", "every_kth_layer"]
