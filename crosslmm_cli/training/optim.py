"""AdamW with its own learning rate for the vision encoder, and a cosine schedule with warm-up.

The paper (Table 3) trains the vision encoder at a fifth of the rest's learning rate in stage 2
(2e-6 vs 1e-5). Weight decay applies to matrices only (not to biases, norms, gates or the newline
embedding), as usual for transformers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crosslmm_cli.training.groups import groups_of

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class OptimizerSettings:
    lr: float = 1e-5
    vision_lr: float | None = None  # None: lr / 5, the paper's stage-2 ratio
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")
        if self.vision_lr is not None and not self.vision_lr > 0:
            raise ValueError(f"--vision-lr must be > 0, got {self.vision_lr}")
        if self.weight_decay < 0:
            raise ValueError(f"--weight-decay must be >= 0, got {self.weight_decay}")

    @property
    def effective_vision_lr(self) -> float:
        return self.vision_lr if self.vision_lr is not None else self.lr / 5


def build_optimizer(named_parameters: Iterable[tuple[str, torch.nn.Parameter]], settings: OptimizerSettings):
    """AdamW over the parameters that require grad, in up to four groups (vision or not x decay or not).

    Each group carries a "name" so the training state can be checked against a resumed run.
    """
    import torch

    buckets: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, param in named_parameters:
        if not param.requires_grad:
            continue
        key = ("vision" in groups_of(name), param.ndim >= 2 and settings.weight_decay > 0)
        buckets.setdefault(key, []).append(param)
    if not buckets:
        raise ValueError("no parameter is trainable")
    param_groups = []
    for (vision, decay), params in sorted(buckets.items()):
        param_groups.append({
            "name": f"{'vision' if vision else 'rest'}{'-decay' if decay else ''}",
            "params": params,
            "lr": settings.effective_vision_lr if vision else settings.lr,
            "weight_decay": settings.weight_decay if decay else 0.0,
        })
    return torch.optim.AdamW(param_groups, betas=settings.betas, eps=settings.eps)


def warmup_steps_for(total_steps: int, warmup: float) -> int:
    """`warmup` < 1 is a fraction of the run; >= 1 a number of steps."""
    if warmup < 0:
        raise ValueError(f"--warmup must be >= 0, got {warmup}")
    steps = math.ceil(warmup * total_steps) if warmup < 1 else int(warmup)
    return min(steps, total_steps)


def cosine_with_warmup(step: int, *, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate factor of step `step` (0-based): linear warm-up, then cosine decay to 0.

    The warm-up ramps (step + 1) / (warmup + 1), so the first step already learns (transformers'
    version starts at 0 and wastes it); after it, the same half cosine as transformers'.
    """
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


def build_scheduler(optimizer, *, total_steps: int, warmup_steps: int):
    """A LambdaLR over `cosine_with_warmup`; its state (step count, rates) is plain JSON.

    Not transformers' `get_cosine_schedule_with_warmup`: importing `transformers.optimization` pulls
    in its Trainer, peft and bitsandbytes (seconds of start-up, and a warning on CPU).
    """
    import torch

    factor = functools.partial(cosine_with_warmup, warmup_steps=warmup_steps, total_steps=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
