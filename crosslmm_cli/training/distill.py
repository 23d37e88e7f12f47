"""Self-distillation (`crosslmm distill`): no labels, only videos.

The teacher is the model itself at many tokens per frame (LLaVA-OneVision's 196, bilinear) with
the cross-attention shut: for a LLaVA-OneVision conversion that is exactly LLaVA-OneVision. The
student is the same model at few tokens per frame with its cross-attention on; it learns (by
default only its cross-attention, optionally the projector) to match the teacher's next-token
distributions along the teacher's own answers to generic prompts about each video.

Steps: teacher answers for every (video, prompt), cached on disk; KL on held-out videos before;
training with the shared loop; KL on held-out videos after.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from crosslmm_cli.engine.options import FrameOptions
from crosslmm_cli.training.errors import DataFileError, TrainingSetupError
from crosslmm_cli.training.loop import LoopResult, LoopSettings
from crosslmm_cli.training.model_setup import ModelSettings
from crosslmm_cli.training.optim import OptimizerSettings
from crosslmm_cli.training.teacher import TeacherSettings, TeacherTarget

DEFAULT_PROMPTS = (
    "Describe the video in detail.",
    "What happens in the video?",
    "Who or what appears in the video?",
    "Where does the video take place?",
    "When does the most important event happen?",
)


@dataclass(frozen=True)
class DistillSettings:
    model: str
    videos: Path
    output: Path
    prompts: tuple[str, ...] = DEFAULT_PROMPTS
    frames: int = 8
    tokens_per_frame: int | None = None  # the student's; None: the checkpoint's
    teacher_tokens_per_frame: int | None = None  # None: LLaVA-OneVision's (ceil(grid / 2)^2, 196)
    teacher_pooling: str = "bilinear"
    max_answer_tokens: int = 64
    top_k: int = 32
    trainable: str = "v2v,t2v"
    holdout: int = 0  # the last N videos (in path order) are only measured, never trained on
    teacher_cache: Path | None = None  # None: OUTPUT/teacher-cache
    frame_cache: Path | None = None  # None: OUTPUT/frame-cache
    resume: bool = False
    progress: bool = True
    loop: LoopSettings = field(default_factory=LoopSettings)
    optimizer: OptimizerSettings = field(default_factory=lambda: OptimizerSettings(lr=1e-4))
    model_settings: ModelSettings = field(default_factory=ModelSettings)


@dataclass(frozen=True)
class DistillItem:
    video: Path
    target: TeacherTarget


@dataclass
class DistillResult:
    output: Path
    loop: LoopResult
    heldout_kl_before: float | None
    heldout_kl_after: float | None
    train_items: int
    teacher_runs: int  # clips the teacher answered now (the rest came from the cache)


class DistillDataset:
    """(video, teacher answer) -> the student's prompt + the answer, with the teacher's top-k aligned.

    `teacher_ids` / `teacher_logprobs` (L, k) sit at the positions that predict each answer token.
    """

    def __init__(self, items: list[DistillItem], processor: Any, frames: Any) -> None:
        self.items, self.processor, self.frames = items, processor, frames

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        from crosslmm_cli.engine.generation import prompt_inputs
        from crosslmm_cli.training.frame_cache import ClipDecodeError
        from crosslmm_cli.training.tokenization import IGNORE_INDEX

        item = self.items[index]
        try:
            clip = self.frames.load(item.video)
        except ClipDecodeError as error:
            return {"error": str(error), "index": index}
        prompt = prompt_inputs(self.processor, [item.target.prompt], clip, "cpu")["input_ids"][0]
        answer = item.target.answer_ids.long()
        input_ids = torch.cat([prompt, answer])
        labels = torch.full_like(input_ids, IGNORE_INDEX)
        labels[prompt.shape[0]:] = answer
        k = item.target.topk_ids.shape[1]
        teacher_ids = torch.zeros((input_ids.shape[0], k), dtype=torch.long)
        teacher_logprobs = torch.zeros((input_ids.shape[0], k), dtype=torch.float32)
        first = prompt.shape[0] - 1  # this position predicts the first answer token
        teacher_ids[first : first + answer.shape[0]] = item.target.topk_ids.long()
        teacher_logprobs[first : first + answer.shape[0]] = item.target.topk_logprobs.float()
        return {"index": index, "input_ids": input_ids, "labels": labels, "teacher_ids": teacher_ids,
                "teacher_logprobs": teacher_logprobs, "pixel_values_videos": self.frames.pixels(clip)}


def distillation_loss(trainable: Any, cross_attention: list[str] | None = None) -> Callable[[dict[str, Any]], tuple[Any, int]]:
    """batch -> (sum over answer positions of KL(teacher || student), number of positions)."""
    from crosslmm_cli.training.sft import answer_positions, model_hidden_states
    from crosslmm_cli.training.teacher import topk_kl

    model, device = trainable.model, trainable.device
    vision_frozen = not any(p.requires_grad for p in model.model.vision_tower.parameters())

    def loss(batch: dict[str, Any]):
        rows, cols, _ = answer_positions(batch["labels"], device)
        hidden = model_hidden_states(model, batch, device, vision_frozen, cross_attention)
        logits = model.lm_head(hidden[rows, cols])
        ids = batch["teacher_ids"].to(device, non_blocking=True)[rows, cols]
        logprobs = batch["teacher_logprobs"].to(device, non_blocking=True)[rows, cols]
        return topk_kl(logits, ids, logprobs).sum(), int(rows.shape[0])

    return loss


def measure_kl(trainable: Any, dataset: DistillDataset, collate: Callable, batch_size: int) -> float | None:
    """Mean KL per answer token over `dataset` (no gradients)."""
    import torch

    if len(dataset) == 0:
        return None
    loss = distillation_loss(trainable)
    was_training = trainable.model.training
    trainable.model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), trainable.autocast():
        for start in range(0, len(dataset), batch_size):
            batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
            if batch["size"]:
                kl, n = loss(batch)
                total, count = total + float(kl), count + n
    trainable.model.train(was_training)
    return total / count if count else None


def teacher_pass(trainable: Any, videos: list[Path], settings: DistillSettings, teacher: TeacherSettings,
                 frames: Any, warn: Callable[[str], None]) -> tuple[dict[Path, list[TeacherTarget]], int]:
    """Teacher targets for every video: from the cache, else computed now and cached."""
    from crosslmm_cli.training.frame_cache import ClipDecodeError
    from crosslmm_cli.training.progress import ProgressBar
    from crosslmm_cli.training.teacher import cache_key, load_targets, run_teacher, save_targets

    cache_dir = settings.teacher_cache or settings.output / "teacher-cache"
    sampling = asdict(frames.sampling)
    targets: dict[Path, list[TeacherTarget]] = {}
    runs = 0
    model = trainable.model
    model.eval()
    with ProgressBar("teacher", len(videos), enabled=settings.progress) as bar:
        for done, video in enumerate(videos, start=1):
            path = cache_dir / f"{cache_key(trainable.source, video, sampling, teacher, settings.prompts)}.safetensors"
            cached = load_targets(path)
            if cached is None:
                try:
                    clip = frames.load(video)
                except ClipDecodeError as error:
                    warn(f"skipped {error}")
                    bar.update(done)
                    continue
                cached = run_teacher(model, trainable.processor, clip, settings.prompts, teacher,
                                     pixels=frames.pixels(clip, device=model.device))
                save_targets(path, cached)
                runs += 1
            targets[video] = cached
            bar.update(done)
    model.train()
    return targets, runs


def distill(settings: DistillSettings, *, warn: Callable[[str], None] | None = None) -> DistillResult:
    """Run (or resume) self-distillation; the student lands in `settings.output`."""
    from crosslmm_cli.checkpoints.convert import onevision_tokens_per_frame
    from crosslmm_cli.modeling.stop_tokens import set_stop_tokens
    from crosslmm_cli.training.dataset import pad_batch
    from crosslmm_cli.training.frame_cache import FrameLoader
    from crosslmm_cli.training.groups import TrainingPlan, parse_groups
    from crosslmm_cli.training.loop import TrainingLoop
    from crosslmm_cli.training.run_folder import write_run_file
    from crosslmm_cli.training.sft import prepare_model, prepare_output, publish_final
    from crosslmm_cli.video.discovery import find_videos

    warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
    output = settings.output
    checkpoint = prepare_output(output, settings.resume)
    videos = find_videos(settings.videos) if settings.videos.is_dir() else []
    if not settings.videos.is_dir():
        raise DataFileError(f"{settings.videos}: not a folder of videos")
    if len(videos) <= settings.holdout:
        raise DataFileError(f"{settings.videos}: {len(videos)} video(s) found, need more than --holdout {settings.holdout}")
    if not settings.prompts:
        raise DataFileError("no distillation prompts")
    try:
        plan = TrainingPlan(groups=parse_groups(settings.trainable), cross_attention=None)
    except ValueError as error:
        raise TrainingSetupError(str(error)) from error
    if "lora" in plan.groups and not settings.model_settings.uses_lora:
        raise TrainingSetupError("the 'lora' group needs --lora or --qlora")
    trainable, _ = prepare_model(settings.model, plan, settings.model_settings, settings.loop.seed,
                                 tokens_per_frame=settings.tokens_per_frame)
    set_stop_tokens(trainable.model.generation_config, trainable.processor.tokenizer)
    config = trainable.model.config
    teacher = TeacherSettings(
        tokens_per_frame=settings.teacher_tokens_per_frame or onevision_tokens_per_frame(config),
        pooling=settings.teacher_pooling, max_new_tokens=settings.max_answer_tokens, top_k=settings.top_k)
    if config.tokens_per_frame >= teacher.tokens_per_frame:
        raise TrainingSetupError(
            f"the student sees {config.tokens_per_frame} tokens per frame and the teacher {teacher.tokens_per_frame}: "
            "the student must see fewer", hint="pass --tokens-per-frame 9 (or 1, 4, 16)")
    trainable.processor.num_frames = settings.frames  # the checkpoints written carry the frames they learned from
    frames = FrameLoader(trainable.processor.image_processor, FrameOptions(num_frames=settings.frames),
                         cache_dir=settings.frame_cache or output / "frame-cache", exact=True)
    targets, runs = teacher_pass(trainable, videos, settings, teacher, frames, warn)
    split = len(videos) - settings.holdout
    train_items = [DistillItem(v, t) for v in videos[:split] if v in targets for t in targets[v]]
    heldout_items = [DistillItem(v, t) for v in videos[split:] if v in targets for t in targets[v]]
    if not train_items:
        raise DataFileError(f"{settings.videos}: no video could be read")
    collate = functools.partial(pad_batch, pad_id=trainable.processor.tokenizer.pad_token_id or 0,
                                extra=("teacher_ids", "teacher_logprobs"))
    train_set = DistillDataset(train_items, trainable.processor, frames)
    heldout_set = DistillDataset(heldout_items, trainable.processor, frames)

    run_settings = json.loads(json.dumps({
        "kind": "distill", "videos": _videos_fingerprint(videos), "model": str(trainable.source.resolve()),
        "prompts": list(settings.prompts), "frames": settings.frames, "student_tokens_per_frame": config.tokens_per_frame,
        "teacher": asdict(teacher), "plan": sorted(plan.groups), "holdout": settings.holdout,
        "optimizer": asdict(settings.optimizer),
        "model_settings": {k: v for k, v in asdict(settings.model_settings).items() if k not in ("device", "gradient_checkpointing")},
        **settings.loop.resume_key(),
    }))
    loop = TrainingLoop(trainable, train_set, collate, distillation_loss(trainable), output=output, settings=settings.loop,
                        optimizer=settings.optimizer, run_settings=run_settings, progress=settings.progress, warn=warn,
                        label="distill")
    start = loop.resume_from(checkpoint) if checkpoint is not None else None
    before = None if start is not None else measure_kl(trainable, heldout_set, collate, settings.loop.batch_size)
    if checkpoint is None:
        write_run_file(output, {**run_settings, "heldout_kl_before": before})
    result = loop.run(start)
    after = measure_kl(trainable, heldout_set, collate, settings.loop.batch_size)
    if start is not None:
        before = json.loads((output / "run.json").read_text(encoding="utf-8")).get("heldout_kl_before")
    publish_final(result.checkpoint, output)
    return DistillResult(output=output, loop=result, heldout_kl_before=before, heldout_kl_after=after,
                         train_items=len(train_items), teacher_runs=runs)


def _videos_fingerprint(videos: list[Path]) -> str:
    digest = hashlib.sha256()
    for video in videos:
        stat = video.stat()
        digest.update(f"{video.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]
