"""An experiment, not a stage of the build: T2V trained where the answer is made.

Stage 1a teaches layer 0's T2V to find an object at the word that names it; the LLM then has to
carry what it found to the answer. This tries the direct route: whole conversations of object
questions in the tool's own prompts (multiple choice and open), the answer's cross-entropy, and at
each answer position every layer's T2V attention pulled onto the named object's patches (the
scene spec says where it is in each sampled frame). Two heads per layer look at one half of the
clip each (the first frames, the last), so that motion can be the difference of two reads.
The encoder stays frozen; the projector, the frame-time embedding and every T2V block learn, and
the LLM too with `llm_lr`.

Measured (2026-12-07, 2-core CPU, from the shipped build's stage 1a, 1,000 steps of 8 clips x 4
questions, the build's monitor split; `research.binding_probe` for the attention; the first
version of this code, whose own cosine schedule the trainer's `build_scheduler` has replaced):
  LLM frozen: first-token accuracy colour 22.5%, shape 35.9%, size 74.2%, motion 20.6%, count
    56.5%; T2V's attention at the answer lies wholly on objects (any-object share 1.00 in every
    layer) but only 0.36-0.38 of it on the named one, with 3.2 objects in a scene: it finds
    objects, not the object the question names.
  LLM trained too (llm_lr 5e-4 or 2e-3, 600 steps): the same (colour 33.9% / 16.6%; named share
    0.37 at 5e-4). The LLM's state at the answer does not say which object is named (on the
    stage-1a model a linear probe tells the named shape from it at 29-33%, chance 17%), so no
    query can pick it out; the
    stage-0b LLM cannot read a colour off a caption in context either (16.5%): the fix belongs
    in the LLM's pretraining (see models/demo/README.md).

    PYTHONPATH=models/demo python -m research.answer_grounding START OUT --data BUILD/data --steps 1000
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

TASKS = ("colour", "shape", "size", "motion", "count")  # the object questions; count names no object
IGNORE = -100
COVERED = 0.1  # a patch is the object's where it covers a tenth of it


@dataclass(frozen=True)
class AnswerGroundingSettings:
    steps: int = 1000
    batch_size: int = 8  # clips, each with `questions` questions in one conversation
    questions: int = 4
    choice_fraction: float = 0.6  # of questions asked as multiple choice (the rest open)
    lr: float = 2e-3
    warmup_steps: int = 30
    attention_weight: float = 0.5
    llm_lr: float | None = None  # None: the LLM stays frozen; else its learning rate here
    seed: int = 0
    eval_every: int = 250


def attention_weights(block: Any, hidden: Any, key: Any) -> Any:
    """T2V's attention weights (B, H, L, T*N): what `attend_all_frames` computes inside SDPA."""
    import torch

    batch, length, _ = hidden.shape
    query = block.q_proj(hidden).view(batch, length, block.num_heads, block.head_dim).transpose(1, 2)
    key = key.reshape(batch, block.num_key_value_heads, -1, block.head_dim).repeat_interleave(block.num_key_value_groups, 1)
    return torch.softmax(query @ key.transpose(-1, -2).to(query.dtype) / block.head_dim**0.5, dim=-1)


def t2v_layers(model: Any) -> list[Any]:
    """The LLM layers' cross-attention modules that hold a T2V block, first layer first."""
    return [layer.cross_attn for layer in model.model.language_model.layers
            if getattr(layer, "cross_attn", None) is not None and layer.cross_attn.t2v is not None]


@contextmanager
def recording_t2v_attention(model: Any) -> Iterator[list[Any]]:
    """Within it, every T2V block attends through its explicit weights and appends them (B, H, L,
    T*N) to the yielded list, one entry per layer and forward (gradients flow through them); on
    exit the blocks go back to the class's own SDPA attention."""
    weights: list[Any] = []
    blocks = [dual.t2v for dual in t2v_layers(model)]

    def explicit(block: Any):  # noqa: ANN202 - `attend_all_frames` with its weights kept
        def attend_all_frames(hidden: Any, key: Any, value: Any) -> Any:
            batch, length, _ = hidden.shape
            w = attention_weights(block, hidden, key)
            weights.append(w)
            value = value.reshape(batch, block.num_key_value_heads, -1, block.head_dim).repeat_interleave(block.num_key_value_groups, 1)
            return block.o_proj((w @ value.to(w.dtype)).transpose(1, 2).reshape(batch, length, -1))
        return attend_all_frames

    for block in blocks:
        block.attend_all_frames = explicit(block)
    try:
        yield weights
    finally:
        for block in blocks:
            del block.attend_all_frames


def answer_starts(labels: Any) -> list[int]:
    """Positions of the first token of each answer (where the labels start a run); the logits one
    position before predict it."""
    labels = [int(label) for label in labels]
    return [p for p in range(1, len(labels)) if labels[p] != IGNORE and labels[p - 1] == IGNORE]


def answer_ends(labels: Any) -> list[int]:
    """One past the last token of each answer (where a run of labels ends)."""
    labels = [int(label) for label in labels] + [IGNORE]
    return [p for p in range(1, len(labels)) if labels[p] == IGNORE and labels[p - 1] != IGNORE]


def object_masks(clip: Any, subject: tuple[str, str] | None, timestamps: list[float], config: Any) -> np.ndarray | None:
    """(T, P) share of each patch the named object covers in each sampled frame, or None when the
    question names no one object (count questions) or the name is ambiguous."""
    from crosslmm_cli.synthetic.labels import patch_means, thing_coverage

    if subject is None:
        return None
    scene = clip.scenes[0]
    matches = [i for i, thing in enumerate(scene.things) if not thing.is_dot and thing.shape == subject[1]]
    if len(matches) != 1:
        return None
    masks = np.zeros((len(timestamps), config.patch_grid**2), np.float32)
    for frame, t in enumerate(timestamps):
        full = thing_coverage(scene, matches[0], float(t), config)
        if full is not None:
            masks[frame] = patch_means(full, config.patch_grid)
    return masks


def head_targets(masks: np.ndarray, heads: int) -> np.ndarray:
    """(H, T*P) where each head should look: head 0 the object in the first half of the frames,
    head 1 in the last half, the others in every frame (binary: the patches it covers)."""
    frames = masks.shape[0]
    covered = (masks > COVERED).astype(np.float32)
    first, last = np.zeros_like(covered), np.zeros_like(covered)
    first[: (frames + 1) // 2], last[frames // 2 :] = covered[: (frames + 1) // 2], covered[frames // 2 :]
    rows = [first, last] + [covered] * (heads - 2)
    return np.stack([row.reshape(-1) for row in rows[:heads]])


def pretrain_answer_grounding(model_dir: Path, train_split: Path, held_out_split: Path, output: Path,
                              settings: AnswerGroundingSettings, *, cache_dir: Path, frames: int,
                              log: Any = print) -> dict[str, Any]:
    """Train the projector, the time embedding and every T2V block on answers and where they look."""
    import torch
    from recipe.records import question_turn
    from torch.nn import functional as F

    from crosslmm_cli.checkpoints.loader import load_model
    from crosslmm_cli.engine.options import FrameOptions
    from crosslmm_cli.synthetic import WorldConfig, read_clips
    from crosslmm_cli.synthetic.questions import scene_questions
    from crosslmm_cli.training.dataset import pad_batch
    from crosslmm_cli.training.frame_cache import FrameLoader
    from crosslmm_cli.training.optim import build_scheduler
    from crosslmm_cli.training.tokenization import encode_conversation

    started = time.monotonic()
    torch.manual_seed(settings.seed)
    model, processor = load_model(model_dir, quantize="none", device="cpu")
    loader = FrameLoader(processor.image_processor, FrameOptions(num_frames=frames), cache_dir=cache_dir, exact=True)
    config = WorldConfig.from_dict(json.loads((train_split / "world.json").read_text(encoding="utf-8")))
    inner = model.model
    layers = t2v_layers(model)
    heads = layers[0].t2v.num_heads
    tpf = model.config.tokens_per_frame

    def encode(split: Path) -> list[dict[str, Any]]:
        """Per single-scene clip: its encoder features, frame times and object questions with masks."""
        out = []
        for video, clip in read_clips(split / "clips.jsonl"):
            if len(clip.scenes) != 1:
                continue
            sampled = loader.load(split / video)
            with torch.no_grad():
                features = model.get_video_features(loader.pixels(sampled)[None])[0].half()
            times = [float(t) for t in sampled.timestamps]
            qas = [qa for qa in scene_questions(clip.scenes[0], config, np.random.default_rng(len(out))) if qa.task in TASKS]
            targets = [None if (m := object_masks(clip, qa.subject, times, config)) is None
                       else torch.from_numpy(head_targets(m, heads)) for qa in qas]
            out.append({"clip": clip, "features": features, "times": times, "duration": float(sampled.duration),
                        "qas": qas, "targets": targets})
        return out

    train, held = encode(train_split), encode(held_out_split)
    log(f"answer grounding: {len(train)} clips, {len(held)} held out ({time.monotonic() - started:.0f} s to encode)")

    for param in model.parameters():
        param.requires_grad_(False)
    trained = [*inner.multi_modal_projector.parameters()]
    for block in layers:
        trained += [*block.t2v.parameters(), block.gate_t2v]
    if inner.kv_time_embedding is not None:
        trained += list(inner.kv_time_embedding.parameters())
    llm = [p for name, p in inner.language_model.named_parameters() if ".cross_attn." not in name] if settings.llm_lr else []
    for param in trained + llm:
        param.requires_grad_(True)
    groups = [{"params": trained, "lr": settings.lr}] + ([{"params": llm, "lr": settings.llm_lr}] if llm else [])
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    schedule = build_scheduler(optimizer, total_steps=settings.steps, warmup_steps=settings.warmup_steps)

    def batch_of(items: list[dict[str, Any]], rng: np.random.Generator, questions: int | None) -> dict[str, Any]:
        encoded, asked = [], []
        for index, item in enumerate(items):
            order = rng.permutation(len(item["qas"]))[:questions] if questions else np.arange(len(item["qas"]))
            turns = [question_turn(item["qas"][i], rng, settings.choice_fraction) for i in order]
            conversation = encode_conversation(processor, turns, timestamps=item["times"], duration=item["duration"])
            encoded.append({"index": index, "input_ids": torch.tensor(conversation.input_ids),
                            "labels": torch.tensor(conversation.labels)})
            asked.append([(item["targets"][i], item["qas"][i].task) for i in order])
        batch = pad_batch(encoded, processor.tokenizer.pad_token_id or 0)
        labels = batch["labels"]
        _, frame_mask = inner._frame_token_mask(batch["input_ids"], frames, tpf)
        answers = []  # (row, text position predicting the answer's first token, target (H, T*N) or None, task, answer id)
        for i, questions_asked in enumerate(asked):
            before = (~frame_mask[i]).cumsum(0) - 1  # a position's index among the text positions
            for p, (target, task) in zip(answer_starts(labels[i]), questions_asked):
                answers.append((i, p - 1, int(before[p - 1]), target, task, int(labels[i, p])))
        batch.update(features=torch.stack([item["features"] for item in items]).float(), answers=answers)
        return batch

    def run(batch: dict[str, Any]) -> tuple[Any, Any, Any]:
        weights.clear()
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], video_features=batch["features"],
                    use_cache=False)
        logits = out.logits[:, :-1]
        text_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1), ignore_index=IGNORE)
        terms = []
        for row, _, text_position, target, _, _ in batch["answers"]:
            if target is None:
                continue
            present = target.sum(-1) > 0  # a head whose half of the clip lacks the object has no term
            for w in weights:
                mass = (w[row, :, text_position] * target).sum(-1)
                terms.append(-torch.log(mass[present].clamp(min=1e-6)))
        attention_loss = torch.cat(terms).mean() if terms else text_loss.new_zeros(())
        return out.logits, text_loss, attention_loss

    def evaluate() -> dict[str, float]:
        hits: dict[str, list[int]] = {task: [0, 0] for task in TASKS}
        rng = np.random.default_rng(12345)
        with torch.no_grad():
            for start in range(0, len(held), 16):
                batch = batch_of(held[start : start + 16], rng, None)
                logits, _, _ = run(batch)
                for row, position, _, _, task, answer in batch["answers"]:
                    hits[task][0] += int(logits[row, position].argmax()) == answer
                    hits[task][1] += 1
        return {task: right / max(1, total) for task, (right, total) in hits.items()}

    history = []
    rng = np.random.default_rng(settings.seed)
    with recording_t2v_attention(model) as weights:  # SDPA again on exit, before saving
        for step in range(1, settings.steps + 1):
            batch = batch_of([train[i] for i in rng.integers(0, len(train), settings.batch_size)], rng, settings.questions)
            _, text_loss, attention_loss = run(batch)
            loss = text_loss + settings.attention_weight * attention_loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained + llm, 1.0)
            optimizer.step()
            schedule.step()
            if step % 25 == 0:
                log(f"step {step}: text {float(text_loss.detach()):.3f} attention {float(attention_loss.detach()):.3f} "
                    f"({time.monotonic() - started:.0f} s)")
            if step % settings.eval_every == 0 or step == settings.steps:
                scores = evaluate()
                history.append({"step": step, "text_loss": round(float(text_loss.detach()), 4),
                                "attention_loss": round(float(attention_loss.detach()), 4),
                                "elapsed_s": round(time.monotonic() - started, 1), **scores})
                log(f"step {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    model.save_pretrained(output)
    processor.save_pretrained(output)
    result = {"settings": asdict(settings), "clips": len(train), "seconds": round(time.monotonic() - started, 1),
              "scores": history[-1] if history else {}, "history": history}
    (output / "answer_grounding.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def main(argv: list[str] | None = None) -> None:
    import argparse

    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("start", type=Path, help="the checkpoint to start from (a build's stage1a)")
    parser.add_argument("output", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="a build's data folder (train/, monitor/, frame-cache/)")
    parser.add_argument("--steps", type=int, default=AnswerGroundingSettings.steps)
    parser.add_argument("--llm-lr", type=float, help="train the LLM too, at this learning rate")
    parser.add_argument("--frames", type=int, default=8)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    settings = AnswerGroundingSettings(steps=args.steps, llm_lr=args.llm_lr)
    pretrain_answer_grounding(args.start, args.data / "train", args.data / "monitor", args.output, settings,
                              cache_dir=args.data / "frame-cache", frames=args.frames, log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    main()
