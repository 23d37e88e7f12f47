"""Write a synthetic dataset: clips as .mp4 plus train, eval, chapter and ground-truth files.

Layout of `out_dir/<split>/`:
    videos/<clip id>.mp4   H.264 clips
    train.json             LLaVA-style conversations (train split)
    eval.jsonl             one item per question type per clip (eval split)
    chapters.jsonl         chapter truth of the multi-scene clips
    clips.jsonl            the clip specs: full ground truth, re-renderable
    world.json             the WorldConfig the clips were rendered with

Every clip has its own random stream, seeded by (seed, split, index), so a clip never depends on
`n` (a larger n extends a smaller one) or on the other split. Train and eval cannot share a clip:
eval clips each show a held-out (colour, shape) pair that train clips never show.
"""

from __future__ import annotations

import functools
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crosslmm_cli.synthetic.formats import (
    chapter_record,
    eval_records,
    pick_eval_questions,
    train_records,
    write_json_list,
    write_jsonl,
)
from crosslmm_cli.synthetic.questions import clip_questions
from crosslmm_cli.synthetic.render import render_clip
from crosslmm_cli.synthetic.sampling import sample_clip
from crosslmm_cli.synthetic.scene import Clip
from crosslmm_cli.synthetic.video_writer import write_mp4
from crosslmm_cli.synthetic.world import WorldConfig

SPLITS: tuple[str, ...] = ("train", "eval")
_SPLIT_STREAM = {"train": 1, "eval": 2}  # keeps the two splits' random streams apart for one seed


@dataclass(frozen=True)
class SplitFiles:
    """What `write_dataset` wrote for one split."""

    split: str
    root: Path
    questions: Path  # train.json or eval.jsonl
    chapters: Path
    clips: Path
    world: Path
    n_clips: int
    n_chapter_clips: int
    n_records: int


def _streams(seed: int, split: str, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the clip spec and for its text (wording, option order), so that
    changing how questions are phrased never changes the clips."""
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if split not in _SPLIT_STREAM:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    spec, text = np.random.SeedSequence([seed, _SPLIT_STREAM[split], index]).spawn(2)
    return np.random.default_rng(spec), np.random.default_rng(text)


def clip_id(seed: int, split: str, index: int) -> str:
    return f"{split}-{seed}-{index:05d}"


def generate_clip(seed: int, split: str, index: int, config: WorldConfig) -> Clip:
    """The spec of clip `index` of a split: what `write_dataset` renders for it."""
    spec_rng, _ = _streams(seed, split, index)
    return sample_clip(spec_rng, config, clip_id(seed, split, index), held_out=split == "eval")


def _build_clip(
    index: int,
    *,
    root: Path,
    seed: int,
    split: str,
    config: WorldConfig,
    choice_fraction: float,
    turns: int,
    open_questions: bool,
) -> dict[str, Any]:
    """Render, encode and describe one clip; returns its records for the split's files."""
    clip = generate_clip(seed, split, index, config)
    _, text_rng = _streams(seed, split, index)
    video = f"videos/{clip.id}.mp4"
    write_mp4(render_clip(clip, config), root / video, config.fps)
    qas = clip_questions(clip, config, text_rng)
    if split == "train":
        records = train_records(clip, qas, video, text_rng, choice_fraction=choice_fraction, turns=turns)
    else:
        picked = pick_eval_questions([qa for qa in qas if qa.task != "chapters"], text_rng, config.held_out_pairs)
        records = eval_records(clip, picked, video, text_rng, open_questions=open_questions)
    return {
        "clip": {"video": video, **clip.to_dict()},
        "chapters": chapter_record(clip, video) if len(clip.scenes) > 1 else None,
        "records": records,
    }


def write_split(
    out_dir: str | Path,
    n: int,
    seed: int,
    split: str,
    config: WorldConfig,
    *,
    choice_fraction: float = 0.5,
    turns: int = 1,
    open_questions: bool = False,
    workers: int | None = None,
) -> SplitFiles:
    """Write `n` clips of `split` under `out_dir/<split>/` (see the module docstring)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not 0.0 <= choice_fraction <= 1.0:
        raise ValueError(f"choice_fraction must be in [0, 1], got {choice_fraction}")
    if turns < 1:
        raise ValueError(f"turns must be at least 1, got {turns}")
    root = Path(out_dir) / split
    (root / "videos").mkdir(parents=True, exist_ok=True)
    build = functools.partial(
        _build_clip,
        root=root,
        seed=seed,
        split=split,
        config=config,
        choice_fraction=choice_fraction,
        turns=turns,
        open_questions=open_questions,
    )
    # Threads suffice: the time goes to the ffmpeg subprocesses and to numpy, which both run
    # outside the GIL. Results come back in index order, so files do not depend on scheduling.
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        built = list(pool.map(build, range(n)))

    records = [r for b in built for r in b["records"]]
    chapter_rows = [b["chapters"] for b in built if b["chapters"] is not None]
    questions = root / ("train.json" if split == "train" else "eval.jsonl")
    if split == "train":
        write_json_list(questions, records)
    else:
        write_jsonl(questions, records)
    world = root / "world.json"
    world.write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    return SplitFiles(
        split=split,
        root=root,
        questions=questions,
        chapters=write_jsonl(root / "chapters.jsonl", chapter_rows),
        clips=write_jsonl(root / "clips.jsonl", [b["clip"] for b in built]),
        world=world,
        n_clips=n,
        n_chapter_clips=len(chapter_rows),
        n_records=len(records),
    )


def write_dataset(
    out_dir: str | Path,
    n: int,
    seed: int = 0,
    split: str = "both",
    config: WorldConfig | None = None,
    **options: Any,
) -> dict[str, SplitFiles]:
    """Write `n` clips for each requested split ("train", "eval" or "both") under `out_dir`.

    `options` go to `write_split` (choice_fraction, turns, open_questions, workers).
    Returns the files written, keyed by split.
    """
    splits = SPLITS if split == "both" else (split,)
    if split != "both" and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected train, eval or both")
    config = config or WorldConfig()
    return {s: write_split(out_dir, n, seed, s, config, **options) for s in splits}


def read_clips(path: str | Path) -> list[tuple[str, Clip]]:
    """(video path relative to the file, clip spec) for every line of a clips.jsonl."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                data = json.loads(line)
                out.append((data["video"], Clip.from_dict(data)))
    return out
