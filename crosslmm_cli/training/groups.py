"""Trainable parameter groups by name, and the paper's two stages as choices of groups.

Groups (a parameter belongs to every group whose rule matches it):

- `vision`:    the vision encoder (`model.vision_tower.*`)
- `projector`: the projector and the video newline embedding
- `v2v`:       the V2V cross-attention blocks, their gates and the norm they share with T2V
- `t2v`:       the T2V cross-attention blocks, their gates and the shared norm
  (both: the frame-time embedding of their K/V source, where the model has one)
- `gates`:     the tanh gates alone
- `llm`:       the LLM's own weights: embeddings, self-attention, MLPs, norms, LM head
- `lora`:      LoRA adapters on the LLM (present with --lora / --qlora)

A block group includes its gate: with the gate frozen at 0 the block would get no gradient.
Stage 1 (paper, appendix A.1): projector + V2V, encoder and LLM frozen, T2V switched off; with
`--trainable` naming t2v too, stage 1 trains and runs both blocks.
Stage 2: everything, end to end (with LoRA: the adapters instead of the LLM weights).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

GROUPS = ("vision", "projector", "v2v", "t2v", "gates", "llm", "lora")

_RULES: dict[str, re.Pattern[str]] = {
    "vision": re.compile(r"model\.vision_tower\."),
    "projector": re.compile(r"model\.(multi_modal_projector\.|video_newline$)"),
    "v2v": re.compile(r".*\.cross_attn\.(v2v\.|gate_v2v$|norm\.)|model\.kv_time_embedding\."),
    "t2v": re.compile(r".*\.cross_attn\.(t2v\.|gate_t2v$|norm\.)|model\.kv_time_embedding\."),
    "gates": re.compile(r".*\.cross_attn\.gate_(v2v|t2v)$"),
    "lora": re.compile(r".*\.lora_(A|B|embedding_A|embedding_B|magnitude_vector)\."),
}
_LLM = re.compile(r"(model\.language_model\.|lm_head\.)")


def groups_of(name: str) -> set[str]:
    """Every group parameter `name` belongs to (names as in `model.named_parameters()`)."""
    name = name.removeprefix("base_model.model.")  # a peft-wrapped model's names
    found = {group for group, rule in _RULES.items() if rule.match(name)}
    if not found and _LLM.match(name) and ".cross_attn." not in name:
        found.add("llm")
    return found


@dataclass(frozen=True)
class TrainingPlan:
    """Which groups train and which cross-attention blocks run in the forward passes."""

    groups: frozenset[str]
    cross_attention: tuple[str, ...] | None  # None: every block the model has; ("v2v",) in stage 1
    #: Groups a stage chose rather than --trainable: a model may lack some (no cross-attention, or
    #: V2V only, as in the Table 2a ablation) and then they are skipped instead of refused.
    optional: frozenset[str] = frozenset()

    def describe(self) -> str:
        blocks = "all" if self.cross_attention is None else (",".join(self.cross_attention) or "off")
        return f"trainable: {', '.join(sorted(self.groups))}; cross-attention: {blocks}"


def parse_groups(text: str) -> frozenset[str]:
    """'projector,v2v' -> {'projector', 'v2v'}; unknown names raise ValueError listing the known ones."""
    names = {part.strip() for part in text.split(",") if part.strip()}
    unknown = names - set(GROUPS)
    if unknown or not names:
        raise ValueError(f"unknown trainable group(s) {sorted(unknown) or [text]}; choose from {', '.join(GROUPS)}")
    return frozenset(names)


def plan_for(stage: int | None, trainable: str | None, *, lora: bool) -> TrainingPlan:
    """The plan of `--stage` / `--trainable` (`--trainable` wins for groups; stage 1 keeps T2V off).

    With LoRA, `llm` in a stage means the adapters (`lora`), since the base weights stay frozen.
    """
    if stage not in (None, 1, 2):
        raise ValueError(f"--stage must be 1 or 2, got {stage}")
    if trainable is not None:
        groups = parse_groups(trainable)
    elif stage == 1:
        groups = frozenset({"projector", "v2v"})
    else:
        groups = frozenset({"vision", "projector", "v2v", "t2v", "llm"})
    if lora and trainable is None and "llm" in groups:
        groups = (groups - {"llm"}) | {"lora"}
    if "lora" in groups and not lora:
        raise ValueError("the 'lora' group needs --lora or --qlora")
    if lora and "llm" in groups:
        raise ValueError("with --lora/--qlora the LLM trains through its adapters: use 'lora', not 'llm'")
    cross_attention = None
    if stage == 1:  # the blocks this stage trains run; the others stay off (the paper: V2V alone)
        cross_attention = tuple(b for b in ("v2v", "t2v") if b in groups or "gates" in groups)
    optional = frozenset({"v2v", "t2v"}) & groups if stage == 2 and trainable is None else frozenset()
    return TrainingPlan(groups=groups, cross_attention=cross_attention, optional=optional)


def apply_plan(named_parameters: Iterable[tuple[str, object]], groups: frozenset[str]) -> dict[str, int]:
    """Set requires_grad from `groups`; returns trainable parameter counts per group."""
    counts = {group: 0 for group in sorted(groups)}
    for name, param in named_parameters:
        member = groups_of(name) & groups
        param.requires_grad_(bool(member))
        for group in member:
            counts[group] += param.numel()
    return counts
