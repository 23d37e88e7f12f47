"""Memory of a prefill computed from a config's shapes: for shapes too large to run here.

Weights come from the parameter counts of the model built on the `meta` device (exact, nothing
allocated); bitsandbytes NF4 with double quantization stores 0.5 byte per weight plus an 8-bit
absmax per 64 weights and a float32 absmax per 256 of those. Activations follow what the model
holds, phase by phase (every term is a tensor the tracker in `memory.py` sees):

  encode:   pixels + the features buffer + one chunk's encoder activations (at a layer's MLP)
  project:  pixels + features + pooled tokens + K/V source + one projection step's activations
  LLM:      pixels or features (whichever the caller holds) + the pooled tokens (returned) + K/V
            source + every layer's T2V K/V + the LLM's self-attention cache + hidden states + the
            largest layer transient (MLP or K/V norm)

The peak is the largest phase. The bench checks this estimate against its measurements on the
CPU shape (docs/benchmarks.md), so the computed 7B figures rest on a checked model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crosslmm_cli.checkpoints.loader import UNQUANTIZED_MODULES

if TYPE_CHECKING:
    from crosslmm_cli.modeling import CrossLMMConfig

#: bitsandbytes NF4 with double quantization: 4 bits, an 8-bit absmax per 64-weight block, and a
#: float32 absmax per 256 blocks.
NF4_BYTES_PER_WEIGHT = 0.5 + 1 / 64 + 4 / (64 * 256)
KV_DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "float8_e4m3fn": 1, "float8_e5m2": 1}


@dataclass(frozen=True)
class WeightBytes:
    quantized_params: int  # linear layers of the LLM and its cross-attention (4-bit when quantized)
    other_params: int  # vision tower, projector, LM head, embeddings, norms, gates (16-bit)
    weights: str

    @property
    def total(self) -> int:
        if self.weights == "4bit":
            return round(self.quantized_params * NF4_BYTES_PER_WEIGHT) + 2 * self.other_params
        per_param = 4 if self.weights == "32bit" else 2
        return per_param * (self.quantized_params + self.other_params)


def weight_bytes(config: CrossLMMConfig, weights: str = "4bit") -> WeightBytes:
    """Parameter counts of `config` (model built on the meta device), stored as `weights`."""
    import torch
    from torch import nn

    from crosslmm_cli.modeling import CrossLMMForConditionalGeneration

    with torch.device("meta"):
        model = CrossLMMForConditionalGeneration(config)
    quantizable = 0
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and not any(name == s or name.startswith(s + ".") for s in UNQUANTIZED_MODULES):
            quantizable += module.weight.numel()  # biases stay 16-bit
    total = sum(p.numel() for p in model.parameters())  # tied weights are counted once
    return WeightBytes(quantizable, total - quantizable, weights)


def cross_attention_kv_bytes(config: CrossLMMConfig, frames: int, dtype_bytes: int = 2) -> int:
    """T2V keys and values kept for decoding: 2 x frames x kv tokens x kv_dim per cross-attention layer."""
    text = config.text_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    kv_bytes = KV_DTYPE_BYTES[config.cross_attention_kv_dtype] if config.cross_attention_kv_dtype else dtype_bytes
    blocks = 1 if "t2v" in config.cross_attention_blocks else 0
    return blocks * len(config.cross_attention_layers) * 2 * frames * config.kv_grid_side**2 * text.num_key_value_heads * head_dim * kv_bytes


@dataclass
class MemoryEstimate:
    """Bytes by item for each phase of one prefill; `peak` is the largest phase."""

    phases: dict[str, dict[str, int]] = field(default_factory=dict)

    def phase_total(self, phase: str) -> int:
        return sum(self.phases[phase].values())

    @property
    def peak_phase(self) -> str:
        return max(self.phases, key=self.phase_total)

    @property
    def peak(self) -> int:
        return self.phase_total(self.peak_phase)


def prefill_memory(
    config: CrossLMMConfig,
    frames: int,
    tokens_per_frame: int,
    text_tokens: int,
    *,
    cross_attention: bool = True,
    dtype_bytes: int = 2,
    caller_holds: str = "pixels",
) -> MemoryEstimate:
    """Activation bytes (above the weights) of a prefill, by phase and item.

    caller_holds: "pixels" (the caller passes pixel values, as the bench does) or "features"
    (the caller encoded the video once and keeps its features to ask several questions, as the CLI does).
    """
    from crosslmm_cli.modeling.cross_attention import frames_per_chunk

    b = dtype_bytes
    vision, text = config.vision_config, config.text_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    dim, kv_dim, inner = text.hidden_size, text.num_key_value_heads * head_dim, text.intermediate_size
    grid, kv_tokens = config.vision_grid_side**2, config.kv_grid_side**2
    frame_tokens = frames * tokens_per_frame
    seq = text_tokens + frame_tokens + int(config.video_newline)
    source_dim = dim if config.kv_source == "projected" else vision.hidden_size
    crosslmm = cross_attention and bool(config.cross_attention_layers)

    pixels = frames * 3 * config.vision_image_size**2 * b
    features = frames * grid * vision.hidden_size * b
    held = {"pixels": pixels} if caller_holds == "pixels" else {"features (held by the caller)": features}
    chunk = min(frames, config.vision_chunk_size)
    # At a layer's MLP: its input (still the caller's), the post-attention residual, the norm's
    # output, fc1's output and its activation.
    encoder_chunk = chunk * grid * (3 * vision.hidden_size + 2 * vision.intermediate_size) * b
    kv_source = frames * kv_tokens * source_dim * b if crosslmm else 0
    pooled = (frame_tokens + 1) * dim * b
    step = frames_per_chunk(grid) * grid
    projection_step = step * (vision.hidden_size + 3 * dim) * b

    estimate = MemoryEstimate()
    estimate.phases["encode"] = {"pixels": pixels, "features": features if frames > chunk else 0,
                                 "encoder chunk": encoder_chunk}
    if caller_holds == "features":
        estimate.phases["encode"]["pixels"] = pixels  # the caller had pixels while encoding
    estimate.phases["project"] = {**held, "features": features if caller_holds == "pixels" else 0,
                                  "pooled tokens": pooled, "K/V source": kv_source, "projection step": projection_step}

    t2v = cross_attention_kv_bytes(config, frames, b) if crosslmm else 0
    llm_cache = text.num_hidden_layers * 2 * seq * kv_dim * b
    hidden = (4 * seq * dim + 2 * seq * head_dim) * b  # embeddings, scattered copy, residual, normed input; rotary cos/sin
    mlp = 3 * seq * inner * b  # act(gate), up, their product
    kv_norm = (8 + b) * frames_per_chunk(kv_tokens) * kv_tokens * source_dim if crosslmm else 0  # float32 in and product, 16-bit out
    estimate.phases["llm"] = {**held, "pooled tokens (returned as video_hidden_states)": pooled,
                              "K/V source": kv_source, "T2V K/V (all layers)": t2v,
                              "LLM self-attention cache": llm_cache, "hidden states": hidden,
                              "largest layer transient": max(mlp, kv_norm)}
    return estimate
