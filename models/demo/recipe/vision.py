"""Stage 0a: pretrain the vision encoder on what covers each patch of each frame.

The synthetic world labels every patch for free (`crosslmm_cli.synthetic.labels`): the fraction
of it each colour, shape and size covers, a 4x4 map of how much of it any object covers, and the
background. A linear head per label reads the encoder's patch features (the same features the
CrossLMM model computes, `get_video_features`); the loss is the soft cross-entropy against those
fractions, with object patches weighted up, since most of a frame is background.

Measured while building the recipe (docs/ablation.md, "stage 0a"): frame-level targets read from
the mean of a frame's patches (object and dot counts) slowed the per-patch shape labels several
times over (shape 85% of held-out object patches after 160k frame presentations with them, 99%
after 96k without), so there are none; mirroring frames left to right (every shape and the
vertical gradient are symmetric that way) helps a little.

Frames are the training clips' own frames, decoded once into the frame cache that stage 1 and 2
read too; scores are on the frames of held-out clips.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

HEADS = ("colour", "shape", "size", "background", "silhouette", "position")


@dataclass(frozen=True)
class VisionSettings:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 50
    object_weight: float = 4.0  # a patch's loss weight is 1 + object_weight * (its object coverage)
    silhouette_weight: float = 1.0
    background_weight: float = 1.0
    position_weight: float = 1.0
    mirror: bool = True
    seed: int = 0
    eval_every: int = 250


@dataclass(frozen=True, eq=False)
class LabelledFrames:
    """uint8 frames (N, S, S, 3) at the encoder's input size and their labels (patches row-major)."""

    frames: np.ndarray
    colour: np.ndarray  # (N, P, 7)
    shape: np.ndarray  # (N, P, 8)
    size: np.ndarray  # (N, P, 4)
    silhouette: np.ndarray  # (N, P, 16)
    background: np.ndarray  # (N,)


def labelled_frames(split: Path, loader: Any, limit: int | None = None) -> LabelledFrames:
    """The frames `loader` samples from every clip of a `crosslmm synth` split, with their labels."""
    from crosslmm_cli.synthetic import WorldConfig, read_clips
    from crosslmm_cli.synthetic.labels import patch_labels

    config = WorldConfig.from_dict(json.loads((split / "world.json").read_text(encoding="utf-8")))
    frames, labels = [], []
    for video, clip in read_clips(split / "clips.jsonl")[:limit]:
        sampled = loader.load(split / video)
        frames.append(sampled.frames)
        labels += [patch_labels(clip, float(t), config) for t in sampled.timestamps]
    return LabelledFrames(
        frames=np.concatenate(frames),
        colour=np.stack([x.colour for x in labels]), shape=np.stack([x.shape for x in labels]),
        size=np.stack([x.size for x in labels]), silhouette=np.stack([x.silhouette for x in labels]),
        background=np.array([x.background for x in labels], dtype=np.int64),
    )


def patch_places(patches: int) -> Any:
    """(1, P, 2): each patch centre's (x, y) in [-1, 1], row-major."""
    import torch

    side = round(math.sqrt(patches))
    centres = (torch.arange(side, dtype=torch.float32) + 0.5) / side * 2 - 1
    y, x = torch.meshgrid(centres, centres, indexing="ij")
    return torch.stack([x.flatten(), y.flatten()], dim=-1)[None]


def _mirrored(table: Any, flip: Any, cells: int | None = None) -> Any:
    """Patch labels (B, P, ...) mirrored left to right where `flip`; silhouettes mirror inside patches too."""
    import torch

    side = round(math.sqrt(table.shape[1]))
    shaped = table.view(table.shape[0], side, side, *table.shape[2:])
    mirrored = shaped.flip(2)
    if cells:
        mirrored = mirrored.view(*mirrored.shape[:3], cells, cells).flip(4).view_as(shaped)
    return torch.where(flip.view(-1, *([1] * (shaped.ndim - 1))), mirrored, shaped).view_as(table)


def pretrain_vision(model_dir: Path, train_split: Path, held_out_split: Path, output: Path, settings: VisionSettings,
                    *, cache_dir: Path, frames: int, threads: int, log: Any = print) -> dict[str, Any]:
    """Train the encoder of the checkpoint in `model_dir`; write the checkpoint to `output` and return scores.

    `threads` is pinned, not left to the machine: CPU kernels split their sums by thread count, so the
    weights a seed gives depend on it (same seed, threads and CPU: the same bits)."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from crosslmm_cli.checkpoints.loader import load_model
    from crosslmm_cli.engine.options import FrameOptions
    from crosslmm_cli.synthetic.labels import BACKGROUND_CLASSES, COLOUR_CLASSES, SHAPE_CLASSES, SIZE_CLASSES
    from crosslmm_cli.training.frame_cache import FrameLoader

    started = time.monotonic()
    torch.set_num_threads(threads)  # before any kernel runs
    torch.manual_seed(settings.seed)
    model, processor = load_model(model_dir, quantize="none", device="cpu")
    loader = FrameLoader(processor.image_processor, FrameOptions(num_frames=frames), cache_dir=cache_dir, exact=True)
    train, held = labelled_frames(train_split, loader), labelled_frames(held_out_split, loader)
    log(f"stage 0a: {len(train.frames)} training frames, {len(held.frames)} held-out frames "
        f"({time.monotonic() - started:.0f} s to decode and label)")
    width = model.config.vision_config.hidden_size
    sizes = {"colour": len(COLOUR_CLASSES), "shape": len(SHAPE_CLASSES), "size": len(SIZE_CLASSES),
             "background": len(BACKGROUND_CLASSES), "silhouette": train.silhouette.shape[-1], "position": 2}
    heads = nn.ModuleDict({name: nn.Sequential(nn.LayerNorm(width), nn.Linear(width, n)) for name, n in sizes.items()})
    tower = model.model.vision_tower
    for param in model.parameters():
        param.requires_grad_(False)
    for param in tower.parameters():
        param.requires_grad_(True)
    params = [*tower.parameters(), *heads.parameters()]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / settings.warmup_steps)
                                                 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / settings.steps))))
    table = {name: torch.from_numpy(getattr(train, name)) for name in ("colour", "shape", "size", "silhouette", "background")}
    pixels = torch.from_numpy(train.frames)
    generator = torch.Generator().manual_seed(settings.seed)
    cells = round(math.sqrt(sizes["silhouette"]))
    places = patch_places(train.colour.shape[1])

    def features(batch: Any) -> Any:  # uint8 (B, S, S, 3) -> patch features (B, P, D), as the model computes them
        return model.get_video_features(loader.normalize(batch)[:, None])[:, 0]

    def soft_ce(logits: Any, target: Any) -> Any:
        weight = 1 + settings.object_weight * (1 - target[..., 0])
        return (-(target * logits.log_softmax(-1)).sum(-1) * weight).sum() / weight.sum()

    history = []
    model.train()
    for step in range(1, settings.steps + 1):
        index = torch.randint(0, len(pixels), (settings.batch_size,), generator=generator)
        flip = (torch.rand(settings.batch_size, generator=generator) < 0.5) if settings.mirror else torch.zeros(settings.batch_size, dtype=torch.bool)
        batch = torch.where(flip[:, None, None, None], pixels[index].flip(2), pixels[index])
        hidden = features(batch)
        out = {name: head(hidden) for name, head in heads.items()}
        target = {name: _mirrored(table[name][index], flip) for name in ("colour", "shape", "size")}
        loss = soft_ce(out["colour"], target["colour"]) + soft_ce(out["shape"], target["shape"]) + soft_ce(out["size"], target["size"])
        silhouette = _mirrored(table["silhouette"][index], flip, cells)
        loss = loss + settings.silhouette_weight * F.binary_cross_entropy_with_logits(out["silhouette"], silhouette)
        background = table["background"][index].repeat_interleave(hidden.shape[1])
        loss = loss + settings.background_weight * F.cross_entropy(out["background"].flatten(0, 1), background)
        # Where each patch is (its centre in [-1, 1]): motion is read off positions across frames, so
        # the features must keep them. A mirrored frame is a picture like any other: positions stay.
        loss = loss + settings.position_weight * F.mse_loss(out["position"], places.expand_as(out["position"]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        if step % settings.eval_every == 0 or step == settings.steps:
            scores = held_out_scores(features, heads, held)
            history.append({"step": step, "loss": round(float(loss.detach()), 4), "elapsed_s": round(time.monotonic() - started, 1), **scores})
            log(f"stage 0a step {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    model.eval()
    model.save_pretrained(output)
    processor.save_pretrained(output)
    result = {"settings": asdict(settings), "train_frames": len(train.frames), "held_out_frames": len(held.frames),
              "seconds": round(time.monotonic() - started, 1), "scores": history[-1], "history": history}
    (output / "stage0a.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def held_out_scores(features: Any, heads: Any, held: LabelledFrames, batch_size: int = 256) -> dict[str, float]:
    """Per-patch accuracy on held-out object patches (at least half covered) for colour, shape and
    size, of the background on every patch, of each object's shape read from all its patches, and
    the mean error of each patch's place."""
    import torch

    hits = {name: [0, 0] for name in ("colour", "shape", "size", "background", "object_shape")}
    places, error = patch_places(held.colour.shape[1]), [0.0, 0]
    with torch.no_grad():
        for start in range(0, len(held.frames), batch_size):
            stop = start + batch_size
            hidden = features(torch.from_numpy(held.frames[start:stop]))
            for name in ("colour", "shape", "size"):
                target = torch.from_numpy(getattr(held, name)[start:stop])
                covered = (1 - target[..., 0]) >= 0.5
                guess = heads[name](hidden)[..., 1:].argmax(-1)  # which object class, on an object patch
                hits[name][0] += int((guess == target[..., 1:].argmax(-1))[covered].sum())
                hits[name][1] += int(covered.sum())
            background = torch.from_numpy(held.background[start:stop])[:, None]
            hits["background"][0] += int((heads["background"](hidden).argmax(-1) == background).sum())
            hits["background"][1] += background.numel() * hidden.shape[1]
            error[0] += float((heads["position"](hidden) - places).abs().sum())
            error[1] += hidden.shape[0] * hidden.shape[1] * 2
            shape = torch.from_numpy(held.shape[start:stop])
            log_probs = heads["shape"](hidden)[..., 1:].log_softmax(-1)
            for cls in range(shape.shape[-1] - 1):
                area = shape[..., cls + 1]  # (B, P): how much of each patch this shape covers
                present = area.sum(1) > 1.0  # at least a patch's worth: a legible object, not a dot
                if present.any():
                    votes = (log_probs * area[..., None]).sum(1)[present]
                    hits["object_shape"][0] += int((votes.argmax(-1) == cls).sum())
                    hits["object_shape"][1] += int(present.sum())
    scores = {name: right / max(1, total) for name, (right, total) in hits.items()}
    return {**scores, "position_error": error[0] / max(1, error[1])}  # mean |error| in half frame widths
