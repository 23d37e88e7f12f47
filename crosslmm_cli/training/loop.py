"""The training loop shared by `train` and `distill`: accumulation, clipping, schedule, checkpoints.

The loss function returns a *sum* over target tokens and their count. Gradients of a whole
accumulation window are summed and divided by the window's token count before clipping, so a
step's update is the mean over its tokens however they fall into micro-batches, without having
to load the window's batches ahead to count them.

The data position (epoch, batches done) is saved with each checkpoint; a resumed run skips the
batches already seen and, on CPU, reproduces the uninterrupted run bit for bit.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from crosslmm_cli.training.dataset import EpochBatches, make_loader
from crosslmm_cli.training.errors import TrainingSetupError
from crosslmm_cli.training.model_setup import TrainableModel, save_plain_checkpoint, trainable_parameters
from crosslmm_cli.training.optim import OptimizerSettings, build_optimizer, build_scheduler, warmup_steps_for
from crosslmm_cli.training.progress import MetricsLog, ProgressBar
from crosslmm_cli.training.run_folder import METRICS_FILE, trim_metrics, write_checkpoint
from crosslmm_cli.training.state import Position, load_training_state, save_training_state

LossFn = Callable[[dict[str, Any]], tuple[torch.Tensor, int]]


@dataclass(frozen=True)
class LoopSettings:
    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 1
    grad_accum: int = 1
    max_grad_norm: float | None = 1.0
    warmup: float = 0.03  # < 1: fraction of the steps; >= 1: steps
    save_every: int | None = None  # steps; the end of the run always saves
    keep_checkpoints: int | None = 2
    log_every: int = 1
    seed: int = 0
    workers: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "grad_accum", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"--max-steps must be >= 1, got {self.max_steps}")
        if self.save_every is not None and self.save_every < 1:
            raise ValueError(f"--save-every must be >= 1, got {self.save_every}")
        if self.keep_checkpoints is not None and self.keep_checkpoints < 1:
            raise ValueError(f"--keep-checkpoints must be >= 1, got {self.keep_checkpoints}")
        if self.workers < 0:
            raise ValueError(f"--workers must be >= 0, got {self.workers}")

    def resume_key(self) -> dict[str, Any]:
        """The settings a resumed run must share (they fix data order and updates)."""
        return {"epochs": self.epochs, "max_steps": self.max_steps, "batch_size": self.batch_size,
                "grad_accum": self.grad_accum, "max_grad_norm": self.max_grad_norm, "warmup": self.warmup,
                "seed": self.seed}


@dataclass
class LoopResult:
    steps: int
    final_loss: float | None
    losses: list[float] = field(default_factory=list)  # per optimizer step
    skipped_items: int = 0
    checkpoint: Path | None = None
    seconds: float = 0.0


class TrainingLoop:
    """Trains `trainable.model` on `dataset` with `loss_fn`, writing checkpoints under `output`."""

    def __init__(self, trainable: TrainableModel, dataset: Any, collate: Callable, loss_fn: LossFn, *,
                 output: Path, settings: LoopSettings, optimizer: OptimizerSettings, run_settings: dict[str, Any],
                 progress: bool = True, warn: Callable[[str], None] | None = None, label: str = "train") -> None:
        self.trainable, self.dataset, self.loss_fn = trainable, dataset, loss_fn
        self.output, self.settings, self.run_settings = output, settings, run_settings
        self.progress, self.label = progress, label
        self.warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
        self.parameters = trainable_parameters(trainable.model)
        self.optimizer = build_optimizer(trainable.model.named_parameters(), optimizer)
        groups = dataset.modalities() if hasattr(dataset, "modalities") else None  # batches of one kind
        self.batches = EpochBatches(len(dataset), settings.batch_size, settings.seed, groups=groups)
        self.steps_per_epoch = math.ceil(self.batches.batches_per_epoch / settings.grad_accum)
        total = settings.epochs * self.steps_per_epoch
        self.total_steps = min(total, settings.max_steps) if settings.max_steps else total
        self.scheduler = build_scheduler(self.optimizer, total_steps=self.total_steps,
                                         warmup_steps=warmup_steps_for(self.total_steps, settings.warmup))
        generator = torch.Generator().manual_seed(settings.seed)  # keeps the global RNG out of data loading
        self.loader = make_loader(dataset, self.batches, collate, settings.workers, generator=generator)

    def resume_from(self, checkpoint: Path) -> Position:
        position, _ = load_training_state(checkpoint, trainable=self.parameters, optimizer=self.optimizer,
                                          scheduler=self.scheduler, settings=self.run_settings)
        trim_metrics(self.output, position.step)
        return position

    def save(self, position: Position, losses: list[float]) -> Path:
        def write(folder: Path) -> None:
            save_plain_checkpoint(self.trainable, folder)
            save_training_state(folder, trainable=self.parameters, optimizer=self.optimizer, scheduler=self.scheduler,
                                position=position, settings=self.run_settings,
                                extra={"last_loss": losses[-1] if losses else None})

        return write_checkpoint(self.output, position.step, write, keep=self.settings.keep_checkpoints)

    def run(self, start: Position | None = None) -> LoopResult:
        settings, model, optimizer = self.settings, self.trainable.model, self.optimizer
        position = start or Position(step=0, epoch=0, batches_done=0)
        result = LoopResult(steps=position.step, final_loss=None)
        metrics = MetricsLog(self.output / METRICS_FILE)
        bar = ProgressBar(self.label, self.total_steps, completed=position.step, enabled=self.progress)
        started, step, last_saved = time.perf_counter(), position.step, None
        reported: set[str] = set()
        epoch, done = position.epoch, position.batches_done
        model.train()
        optimizer.zero_grad(set_to_none=True)
        try:
            for epoch in range(position.epoch, settings.epochs):
                if step >= self.total_steps:
                    break
                done = position.batches_done if epoch == position.epoch else 0
                self.batches.set_epoch(epoch, done)
                window_loss, window_targets, window_batches = 0.0, 0, 0
                loaded_any, fetched = False, 0
                for batch in self.loader:
                    done += 1
                    fetched += 1
                    window_batches += 1
                    for message in batch["errors"]:
                        result.skipped_items += 1
                        if message not in reported:  # a broken clip fails again every epoch: say it once
                            reported.add(message)
                            self.warn(f"skipped {message}")
                    loaded_any = loaded_any or batch["size"] > 0
                    if batch["size"]:
                        with self.trainable.autocast():
                            loss_sum, targets = self.loss_fn(batch)
                        loss_sum.backward()
                        window_loss = window_loss + loss_sum.detach()  # a device tensor: no sync per batch
                        window_targets += targets
                    if window_batches < settings.grad_accum and done < self.batches.batches_per_epoch:
                        continue
                    rates = {group["name"]: group["lr"] for group in optimizer.param_groups}  # this step's rates
                    grad_norm = self._step(window_targets)
                    step += 1
                    loss = float(window_loss) / window_targets if window_targets else float("nan")
                    result.losses.append(loss)
                    bar.update(step, f"loss {loss:.4f}")
                    if step % settings.log_every == 0 or step == self.total_steps:
                        metrics.write({"step": step, "epoch": epoch, "loss": round(loss, 6),
                                       **_rates(rates), "grad_norm": grad_norm,
                                       "targets": window_targets, "elapsed_s": round(time.perf_counter() - started, 3)})
                    window_loss, window_targets, window_batches = 0.0, 0, 0
                    if settings.save_every and step % settings.save_every == 0 and step < self.total_steps:
                        result.checkpoint = self.save(Position(step, epoch, done), result.losses)
                        last_saved = step
                    if step >= self.total_steps:
                        break
                if fetched and not loaded_any:
                    raise TrainingSetupError(f"no training item of this epoch could be loaded ({len(reported)} failed)")
            if last_saved != step:
                result.checkpoint = self.save(Position(step, epoch, done), result.losses)
        finally:
            bar.close()
            metrics.close()
        result.steps = step
        result.final_loss = result.losses[-1] if result.losses else None
        result.seconds = time.perf_counter() - started
        return result

    def _step(self, window_targets: int) -> float | None:
        """Mean the window's summed gradients over its tokens, clip, update; returns the gradient norm."""
        grad_norm = None
        if window_targets:
            params = [p for p in self.parameters.values() if p.grad is not None]
            for param in params:
                param.grad.div_(window_targets)
            if self.settings.max_grad_norm is not None:
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, self.settings.max_grad_norm))
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return grad_norm


def _rates(rates: dict[str, float]) -> dict[str, float]:
    """{"lr": the rest's rate, "vision_lr": the encoder's} from the optimizer's named groups."""
    out = {}
    for name, rate in rates.items():
        key = "vision_lr" if name.startswith("vision") else "lr"
        out.setdefault(key, rate)
    return out
