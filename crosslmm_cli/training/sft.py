"""Supervised training (`crosslmm train`): conversations about videos, loss on the answers only.

    result = train(TrainSettings(data=Path("train.jsonl"), model="ckpt", output=Path("out"), stage=1))

Logits are computed only at the positions that predict an answer token: with a 150k-token
vocabulary the full (batch, length, vocab) logits of a 32-frame prompt would cost more memory
than the rest of the step. With the vision encoder frozen its forward runs without autograd.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crosslmm_cli.engine.options import FrameOptions
from crosslmm_cli.training.errors import ResumeError, TrainingSetupError
from crosslmm_cli.training.frame_cache import FrameLoader
from crosslmm_cli.training.groups import TrainingPlan, apply_plan, plan_for
from crosslmm_cli.training.loop import LoopResult, LoopSettings
from crosslmm_cli.training.model_setup import ModelSettings, TrainableModel
from crosslmm_cli.training.optim import OptimizerSettings
from crosslmm_cli.training.run_folder import RUN_FILE, latest_checkpoint, write_run_file
from crosslmm_cli.training.state import STATE_JSON, STATE_TENSORS


def default_workers() -> int:
    """DataLoader workers: leave a core to the training step (1 on a 2-core machine), at most 4."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


@dataclass(frozen=True)
class TrainSettings:
    data: Path
    model: str
    output: Path
    stage: int | None = None
    trainable: str | None = None
    frames: int = 8
    max_length: int | None = None
    frame_cache: Path | None = None  # None: OUTPUT/frame-cache
    resume: bool = False
    progress: bool = True
    loop: LoopSettings = field(default_factory=LoopSettings)
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    model_settings: ModelSettings = field(default_factory=ModelSettings)

    def __post_init__(self) -> None:
        if self.frames < 1:
            raise ValueError(f"--frames must be >= 1, got {self.frames}")
        if self.max_length is not None and self.max_length < 1:
            raise ValueError(f"--max-length must be >= 1, got {self.max_length}")


@dataclass
class TrainResult:
    output: Path
    loop: LoopResult
    plan: TrainingPlan
    trainable_counts: dict[str, int]
    problems: list[str]


def supervised_loss(trainable: TrainableModel, plan: TrainingPlan) -> Callable[[dict[str, Any]], tuple[Any, int]]:
    """batch -> (sum of answer-token cross-entropies, number of answer tokens)."""
    import torch
    from torch.nn import functional as F

    model, device = trainable.model, trainable.device
    vision_frozen = not any(p.requires_grad for p in model.model.vision_tower.parameters())
    cross_attention = list(plan.cross_attention) if plan.cross_attention is not None else None

    def loss(batch: dict[str, Any]) -> tuple[torch.Tensor, int]:
        rows, cols, targets = answer_positions(batch["labels"], device)
        hidden = model_hidden_states(model, batch, device, vision_frozen, cross_attention)
        logits = model.lm_head(hidden[rows, cols])  # (targets, vocab): answer positions only
        return F.cross_entropy(logits.float(), targets, reduction="sum"), int(targets.shape[0])

    return loss


def answer_positions(labels: Any, device: Any) -> tuple[Any, Any, Any]:
    """(row, column) of every position that predicts an answer token, and those tokens, on `device`.

    Found on the CPU (labels come from the DataLoader there) and moved without waiting, so the step
    never stops the GPU to count targets. Position p predicts token p + 1.
    """
    from crosslmm_cli.training.tokenization import IGNORE_INDEX

    shifted = labels[:, 1:]
    rows, cols = (shifted != IGNORE_INDEX).nonzero(as_tuple=True)
    targets = shifted[rows, cols]
    return (rows.to(device, non_blocking=True), cols.to(device, non_blocking=True),
            targets.to(device, non_blocking=True))


def model_hidden_states(model: Any, batch: dict[str, Any], device: Any, vision_frozen: bool,
                        cross_attention: list[str] | None, **forward: Any) -> Any:
    """The LLM's last hidden states (B, L, D) for a padded batch; encoder without autograd when frozen.
    A batch of text-only conversations has no pixels and runs the LLM alone."""
    import torch

    video: dict[str, Any] = {}
    pixels = batch.get("pixel_values_videos")
    if pixels is not None:
        pixels = pixels.to(device, non_blocking=True)
        video = {"pixel_values_videos": pixels}
    if vision_frozen and pixels is not None:
        with torch.no_grad():
            video = {"video_features": model.get_video_features(pixels)}
    outputs = model.model(input_ids=batch["input_ids"].to(device, non_blocking=True),
                          attention_mask=batch["attention_mask"].to(device, non_blocking=True),
                          use_cache=False, cross_attention=cross_attention, **video, **forward)
    return outputs[0]


def data_fingerprint(path: Path) -> str:
    """Content hash of the data file: a resumed run must read the same records in the same order."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:24]


def prepare_output(output: Path, resume: bool) -> Path | None:
    """The checkpoint to resume from (None for a fresh run); refuses to mix two runs in one folder."""
    checkpoint = latest_checkpoint(output)
    if resume:
        if checkpoint is None:
            raise ResumeError(f"{output}: no checkpoint to resume from", hint="run without --resume to start")
        return checkpoint
    if (output / RUN_FILE).exists():
        raise ResumeError(f"{output}: already holds a training run",
                          hint="pass --resume to continue it, or choose another --output")
    return None


def publish_final(checkpoint: Path, output: Path) -> None:
    """Copy the last checkpoint's model files (not its training state) to OUTPUT itself."""
    for item in checkpoint.iterdir():
        if item.name in (STATE_JSON, STATE_TENSORS):
            continue
        target = output / item.name
        if item.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(item, target)
        else:
            shutil.copy2(item, target)


def prepare_model(model_path: str, plan: TrainingPlan, settings: ModelSettings, seed: int, *,
                  tokens_per_frame: int | None = None) -> tuple[TrainableModel, dict[str, int]]:
    """Load, apply the plan (what trains), float32 master weights; seeded so LoRA starts the same."""
    import torch

    from crosslmm_cli.training.model_setup import load_for_training, master_weights_to_float32

    torch.manual_seed(seed)
    trainable = load_for_training(model_path, settings, tokens_per_frame=tokens_per_frame, adapters="lora" in plan.groups)
    counts = apply_plan(trainable.model.named_parameters(), plan.groups)
    empty = sorted(group for group, count in counts.items() if count == 0 and group not in plan.optional)
    counts = {group: count for group, count in counts.items() if count}
    if empty or not counts:
        raise TrainingSetupError(f"{model_path}: the model has no parameters in group(s) {', '.join(empty or sorted(plan.groups))}")
    master_weights_to_float32(trainable.model)
    return trainable, counts


def train(settings: TrainSettings, *, warn: Callable[[str], None] | None = None) -> TrainResult:
    """Run (or resume) supervised training; the final model lands in `settings.output`."""
    from crosslmm_cli.training.dataset import ConversationDataset, pad_batch
    from crosslmm_cli.training.loop import TrainingLoop
    from crosslmm_cli.training.records import read_conversations

    warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
    output = settings.output
    checkpoint = prepare_output(output, settings.resume)
    conversations, problems = read_conversations(settings.data)
    for problem in problems[:20]:
        warn(f"left out {problem}")
    if len(problems) > 20:
        warn(f"... and {len(problems) - 20} more records left out")
    try:
        plan = plan_for(settings.stage, settings.trainable, lora=settings.model_settings.uses_lora)
    except ValueError as error:
        raise TrainingSetupError(str(error)) from error
    trainable, counts = prepare_model(settings.model, plan, settings.model_settings, settings.loop.seed)

    trainable.processor.num_frames = settings.frames  # the checkpoints written carry the frames they learned from
    frames = FrameLoader(trainable.processor.image_processor, FrameOptions(num_frames=settings.frames),
                         cache_dir=settings.frame_cache or output / "frame-cache", exact=True)
    dataset = ConversationDataset(conversations, trainable.processor, frames, max_length=settings.max_length)
    pad_id = trainable.processor.tokenizer.pad_token_id or 0
    run_settings = {
        "kind": "train", "data": str(settings.data.resolve()), "data_sha256": data_fingerprint(settings.data),
        "model": str(trainable.source.resolve()), "frames": settings.frames, "max_length": settings.max_length,
        "plan": sorted(plan.groups), "cross_attention": plan.cross_attention and list(plan.cross_attention),
        "optimizer": asdict(settings.optimizer), "model_settings": {k: v for k, v in asdict(settings.model_settings).items()
                                                                   if k not in ("device", "gradient_checkpointing")},
        **settings.loop.resume_key(),
    }
    run_settings = _json_roundtrip(run_settings)
    loop = TrainingLoop(trainable, dataset, functools.partial(pad_batch, pad_id=pad_id), supervised_loss(trainable, plan),
                        output=output, settings=settings.loop, optimizer=settings.optimizer, run_settings=run_settings,
                        progress=settings.progress, warn=warn, label="train")
    start = loop.resume_from(checkpoint) if checkpoint is not None else None
    if checkpoint is None:
        write_run_file(output, run_settings)
    result = loop.run(start)
    publish_final(result.checkpoint, output)
    return TrainResult(output=output, loop=result, plan=plan, trainable_counts=counts, problems=problems)


def _json_roundtrip(value: dict[str, Any]) -> dict[str, Any]:
    """Settings as they read back from JSON (tuples become lists), so a resume compares like with like."""
    import json

    return json.loads(json.dumps(value))
