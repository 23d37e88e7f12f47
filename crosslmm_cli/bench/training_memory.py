"""`crosslmm bench train-memory`: compute (not measure) the GPU memory of the README's training
recipes from the real model shapes.

No weights are needed: the models are built on the meta device from `crosslmm_cli.modeling.shapes`.
See `crosslmm_cli.training.memory` for what is counted and how.
"""

from __future__ import annotations

from crosslmm_cli.modeling.shapes import config_for_shape
from crosslmm_cli.training.memory import MemoryRecipe, estimate_training_memory

RECIPES = [
    # (title, shape, config overrides, recipe)
    ("LLaVA-OneVision-0.5B conversion, distillation student (9 tokens/frame, 32 frames, v2v+t2v trainable)",
     "qwen2.5-0.5b", {"tokens_per_frame": 9},
     MemoryRecipe(groups=frozenset({"v2v", "t2v"}), frames=32, text_tokens=256, answer_tokens=64)),
    ("Paper stage 1, CrossLMM-2B (Qwen2.5-1.5B): projector + V2V, 32 frames x 9 tokens, T2V off, batch 8, checkpointing",
     "qwen2.5-1.5b", {"tokens_per_frame": 9},
     MemoryRecipe(groups=frozenset({"projector", "v2v"}), cross_attention=("v2v",), frames=32, text_tokens=128,
                  answer_tokens=128, batch_size=8)),
    ("Paper stage 2, CrossLMM-2B: full model, 64 frames x 9 tokens, batch 2, gradient checkpointing",
     "qwen2.5-1.5b", {"tokens_per_frame": 9},
     MemoryRecipe(groups=frozenset({"vision", "projector", "v2v", "t2v", "llm"}), frames=64, text_tokens=512,
                  answer_tokens=256, batch_size=2)),
    ("QLoRA CrossLMM-7B stage 1: 4-bit frozen LLM, projector + V2V, 32 frames x 9, batch 4, checkpointing",
     "qwen2.5-7b", {"tokens_per_frame": 9},
     MemoryRecipe(groups=frozenset({"projector", "v2v"}), cross_attention=("v2v",), frames=32, text_tokens=128,
                  answer_tokens=128, qlora=True, batch_size=4)),
    ("QLoRA CrossLMM-7B: 4-bit LLM + LoRA r16 + projector + cross-attention, 32 frames x 9, checkpointing",
     "qwen2.5-7b", {"tokens_per_frame": 9},
     MemoryRecipe(groups=frozenset({"projector", "v2v", "t2v", "lora"}), frames=32, text_tokens=256, answer_tokens=128,
                  qlora=True, lora_rank=16)),
]


def training_memory_report() -> str:
    """A Markdown section (title, table) per recipe."""
    sections = []
    for title, shape, overrides, recipe in RECIPES:
        estimate = estimate_training_memory(config_for_shape(shape, **overrides), recipe)
        sections.append(f"## {title}\n\n{estimate.table()}\n")
    return "\n".join(sections)
