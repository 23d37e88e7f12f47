"""GPU memory of a training recipe, computed from the model's shape (an estimate, not a measurement).

    estimate = estimate_training_memory(config, MemoryRecipe(groups={"projector", "v2v"}, frames=32))
    print(estimate.table())

Counted, in bytes:
- weights: frozen ones in 16 bits (4.13 bits for QLoRA's NF4 LLM layers: 4 bits + double-quantized
  absmax, one 8-bit value per 64 weights and one float32 per 256 of those);
- trainable ones as AdamW keeps them here: float32 master weight, float32 gradient, two float32
  moments = 16 bytes per parameter;
- activations autograd keeps for the backward pass, in bf16, per token (S = frames * tokens per
  frame + 1 + text tokens), an upper bound that counts every saved tensor of a layer:
    LLM layer      8 D + 3 kv + 4 I        (norms, q/k/v, rotary, attention out, residual, SwiGLU)
    cross-attn     +4 D per token; per block K/V side: T*N * (2 D_src + 2 kv) (kv_norm in/out, k, v)
    projector      T*N * (D_v + 2 D)       (only if the projector or the encoder trains)
    vision layer   per frame token 9 D_v + 2 I_v   (only if the encoder trains)
  with gradient checkpointing: each layer's input (D per token) plus one layer recomputed, and
  the unpooled K/V source tokens (T*N x D_src) once;
  layers below the first trainable one keep nothing (nothing needs their gradient);
- the loss's float32 logits and their gradient at the answer positions only (as `sft` computes them).
Not counted: the CUDA context and allocator slack (add about 0.5-1 GB), the teacher pass of
distillation (an inference, far below the training step), DataLoader memory (host RAM).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crosslmm_cli.training.groups import groups_of

if TYPE_CHECKING:
    from crosslmm_cli.modeling import CrossLMMConfig

GiB = 1024**3
NF4_BITS = 4 + 8 / 64 + 32 / (64 * 256)  # 4-bit codes + 8-bit absmax per 64-block + fp32 per 256 absmax
LORA_TARGETS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


@dataclass(frozen=True)
class MemoryRecipe:
    groups: frozenset[str] = field(default_factory=lambda: frozenset({"projector", "v2v"}))
    cross_attention: tuple[str, ...] = ("v2v", "t2v")  # blocks that run
    frames: int = 32
    tokens_per_frame: int | None = None  # None: the config's
    text_tokens: int = 256  # prompt text (system, time instruction, question) and answer
    answer_tokens: int = 64
    batch_size: int = 1
    gradient_checkpointing: bool = True
    qlora: bool = False
    lora_rank: int | None = None  # LoRA on the LLM's linear layers


@dataclass
class MemoryEstimate:
    rows: list[tuple[str, float, str]]  # (what, bytes, how)

    @property
    def total(self) -> float:
        return sum(size for _, size, _ in self.rows)

    def table(self) -> str:
        lines = [f"{'part':<34} {'GiB':>7}  how", "-" * 90]
        lines += [f"{what:<34} {size / GiB:7.2f}  {how}" for what, size, how in self.rows]
        lines += ["-" * 90, f"{'total (+ CUDA context ~0.5-1 GiB)':<34} {self.total / GiB:7.2f}"]
        return "\n".join(lines)


def parameter_counts(config: CrossLMMConfig) -> dict[str, int]:
    """Parameters per group (a parameter in two groups counts in the first of v2v/t2v), from a meta model."""
    import torch

    from crosslmm_cli.modeling import CrossLMMForConditionalGeneration

    with torch.device("meta"):
        model = CrossLMMForConditionalGeneration(config)
    counts: dict[str, int] = {}
    for name, param in model.named_parameters():
        found = sorted(groups_of(name) - {"gates"}) or ["other"]
        counts[found[0]] = counts.get(found[0], 0) + param.numel()
    return counts


def lora_parameters(config: CrossLMMConfig, rank: int) -> int:
    text = config.text_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    d, kv, inter = text.hidden_size, text.num_key_value_heads * head_dim, text.intermediate_size
    shapes = [(d, d), (d, kv), (d, kv), (d, d), (d, inter), (d, inter), (inter, d)]
    return text.num_hidden_layers * sum(rank * (fan_in + fan_out) for fan_in, fan_out in shapes)


def estimate_training_memory(config: CrossLMMConfig, recipe: MemoryRecipe) -> MemoryEstimate:
    text, vision = config.text_config, config.vision_config
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    d, kv, inter, layers = text.hidden_size, text.num_key_value_heads * head_dim, text.intermediate_size, text.num_hidden_layers
    dv, iv = vision.hidden_size, vision.intermediate_size
    tpf = recipe.tokens_per_frame or config.tokens_per_frame
    n = (config.kv_grid_side) ** 2  # K/V tokens per frame
    tn = recipe.frames * n
    seq = recipe.frames * tpf + int(config.video_newline) + recipe.text_tokens
    batch, groups = recipe.batch_size, recipe.groups
    counts = parameter_counts(config)
    rows: list[tuple[str, float, str]] = []

    trainable = sum(count for group, count in counts.items() if group in groups)
    frozen = {group: count for group, count in counts.items() if group not in groups}
    frozen_llm = frozen.pop("llm", 0)
    if recipe.qlora:
        embeddings = text.vocab_size * d * (1 if config.tie_word_embeddings else 2)
        linear = frozen_llm - embeddings - layers * 2 * d  # minus embeddings / LM head and norms, kept in 16 bits
        rows.append(("LLM linear layers, NF4", linear * NF4_BITS / 8, f"{linear / 1e9:.2f}B x {NF4_BITS:.2f} bits"))
        rows.append(("LLM embeddings + norms, bf16", (frozen_llm - linear) * 2, f"{(frozen_llm - linear) / 1e9:.2f}B x 2 B"))
    elif frozen_llm:
        rows.append(("LLM (frozen), bf16", frozen_llm * 2, f"{frozen_llm / 1e9:.2f}B x 2 B"))
    other_frozen = sum(frozen.values())
    if other_frozen:
        rows.append((f"frozen {', '.join(sorted(frozen))}, bf16", other_frozen * 2, f"{other_frozen / 1e9:.3f}B x 2 B"))
    if recipe.lora_rank:
        lora = lora_parameters(config, recipe.lora_rank)
        trainable += lora
        rows.append((f"LoRA r={recipe.lora_rank} (frozen base above)", 0.0, f"{lora / 1e6:.1f}M adapter parameters"))
    rows.append((f"trainable {', '.join(sorted(groups))}", trainable * 16.0,
                 f"{trainable / 1e6:.1f}M x 16 B (fp32 weight, grad, Adam m, v)"))

    # Activations (bf16 = 2 bytes per value), per sequence of `seq` tokens.
    cross_layers = [i for i in config.cross_attention_layers]
    blocks = [b for b in recipe.cross_attention if b in config.cross_attention_blocks]
    trains_llm = bool(groups & {"llm", "lora"})
    first = 0 if trains_llm or groups & {"vision", "projector"} else min(cross_layers, default=layers)
    live_layers = layers - first
    d_src = d if config.kv_source == "projected" else dv
    per_layer = seq * (8 * d + 3 * kv + 4 * inter)
    per_cross = seq * 4 * d + len(blocks) * tn * (2 * d_src + 2 * kv)
    live_cross = sum(1 for i in cross_layers if i >= first)
    shared_source = tn * d_src  # the unpooled tokens every cross-attention layer reads, kept once
    if recipe.gradient_checkpointing:
        llm_values = live_layers * seq * d + per_layer + per_cross + shared_source
        how = f"{live_layers} layer inputs x {seq} tokens, one layer recomputed, {tn} K/V source tokens"
    else:
        llm_values = live_layers * per_layer + live_cross * per_cross + shared_source
        how = f"{live_layers} layers x {seq} tokens x (8D+3kv+4I), {live_cross} cross-attention layers"
    rows.append(("activations: LLM + cross-attention", batch * llm_values * 2.0, how))
    if groups & {"projector", "vision"}:
        rows.append(("activations: projector (all tokens)", batch * tn * (dv + 2 * d) * 2.0, f"{tn} tokens x (D_v + 2D)"))
    if "vision" in groups:
        vision_layers = config.num_encoder_layers_used
        per_vision = tn * (9 * dv + 2 * iv)
        vision_values = vision_layers * tn * dv + per_vision if recipe.gradient_checkpointing else vision_layers * per_vision
        rows.append(("activations: vision encoder", batch * vision_values * 2.0, f"{vision_layers} layers, {tn} tokens"))
    logits = batch * recipe.answer_tokens * text.vocab_size * 4 * 2
    rows.append(("logits at answer positions, fp32", float(logits), f"{recipe.answer_tokens} x {text.vocab_size} x 8 B"))
    return MemoryEstimate(rows)


def gib(value: float) -> str:
    return f"{value / GiB:.1f} GiB" if value >= GiB / 10 else f"{math.ceil(value / 1024**2)} MiB"
