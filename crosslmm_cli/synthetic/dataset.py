"""Write a synthetic dataset: clips as .mp4 plus train, eval, chapter and ground-truth files.

Layout of `out_dir/<split>/`:
    videos/<clip id>.mp4   H.264 clips
    train.json             LLaVA-style conversations (train split)
    eval.jsonl             one item per question type per clip (eval split)
    eval_novel.jsonl       the same for the eval split's "novel" clips, which show colour-shape
                           pairs that no other clip shows: compositional generalisation
    chapters.jsonl         chapter truth of the multi-scene clips
    clips.jsonl            the clip specs: full ground truth, re-renderable ("subset" says
                           "standard" or "novel")
    world.json             the WorldConfig the clips were rendered with

Every clip has its own random stream, seeded by (seed, subset, index), so a clip never depends on
`n` (a larger n extends a smaller one) or on another subset. Train and eval cannot share a clip:
a clip spec's hash decides which of the two it may belong to, and novel clips show held-out
pairs that train never shows. Standard eval clips come from the training distribution, so they
measure what was learned; novel clips measure whether it composes.
"""

from __future__ import annotations

import functools
import hashlib
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
from crosslmm_cli.synthetic.random_clips import sample_clip
from crosslmm_cli.synthetic.render import render_clip
from crosslmm_cli.synthetic.scene import Clip
from crosslmm_cli.synthetic.video_writer import write_mp4
from crosslmm_cli.synthetic.world import WorldConfig

SPLITS: tuple[str, ...] = ("train", "eval")
SUBSETS: tuple[str, ...] = ("train", "eval", "novel")  # novel clips live in the eval split
_STREAM = {"train": 1, "eval": 2, "novel": 3}  # keeps the subsets' random streams apart for one seed
_HASH_SIDE = {"train": 0, "eval": 1}  # which half of the spec-hash space each split draws from


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
    novel_questions: Path | None = None  # eval_novel.jsonl (eval split only)
    n_novel_clips: int = 0
    n_novel_records: int = 0


def _streams(seed: int, subset: str, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the clip spec and for its text (wording, option order), so that
    changing how questions are phrased never changes the clips."""
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if subset not in _STREAM:
        raise ValueError(f"unknown subset {subset!r}; expected one of {', '.join(SUBSETS)}")
    spec, text = np.random.SeedSequence([seed, _STREAM[subset], index]).spawn(2)
    return np.random.default_rng(spec), np.random.default_rng(text)


def spec_hash_side(clip: Clip) -> int:
    """0 or 1 from a hash of the clip's scenes (not its id): train specs are all 0 and standard
    eval specs all 1, so the two can never hold the same clip, whatever the seeds."""
    canonical = json.dumps(clip.to_dict()["scenes"], sort_keys=True)
    return hashlib.sha256(canonical.encode()).digest()[0] & 1


def clip_id(seed: int, subset: str, index: int) -> str:
    return f"{subset}-{seed}-{index:05d}"


def generate_clip(seed: int, subset: str, index: int, config: WorldConfig) -> Clip:
    """The spec of clip `index` of a subset ("train", "eval" or "novel"): what `write_dataset`
    renders for it. Train and eval redraw until the spec hash falls on their side."""
    spec_rng, _ = _streams(seed, subset, index)
    name = clip_id(seed, subset, index)
    if subset == "novel":
        return sample_clip(spec_rng, config, name, novel=True)
    while True:  # half of all draws qualify: two tries on average
        clip = sample_clip(spec_rng, config, name)
        if spec_hash_side(clip) == _HASH_SIDE[subset]:
            return clip


def _build_clip(
    job: tuple[str, int],
    *,
    root: Path,
    seed: int,
    config: WorldConfig,
    choice_fraction: float,
    turns: int,
    open_questions: bool,
) -> dict[str, Any]:
    """Render, encode and describe one clip of (subset, index); returns its rows for the files."""
    subset, index = job
    clip = generate_clip(seed, subset, index, config)
    _, text_rng = _streams(seed, subset, index)
    video = f"videos/{clip.id}.mp4"
    write_mp4(render_clip(clip, config), root / video, config.fps)
    qas = clip_questions(clip, config, text_rng)
    if subset == "train":
        records = train_records(clip, qas, video, text_rng, choice_fraction=choice_fraction, turns=turns)
    else:  # one question per task; about the held-out pair where the clip shows one
        picked = pick_eval_questions([qa for qa in qas if qa.task != "chapters"], text_rng, config.held_out_pairs)
        records = eval_records(clip, picked, video, text_rng, open_questions=open_questions)
    return {
        "subset": subset,
        "clip": {"video": video, "subset": "novel" if subset == "novel" else "standard", **clip.to_dict()},
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
    n_novel: int | None = None,
    choice_fraction: float = 0.5,
    turns: int = 1,
    open_questions: bool = False,
    workers: int | None = None,
) -> SplitFiles:
    """Write `n` clips of `split` under `out_dir/<split>/` (see the module docstring); the eval
    split also gets `n_novel` novel clips (default: a quarter of n, at least one)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if n_novel is not None and n_novel < 0:
        raise ValueError(f"n_novel must not be negative, got {n_novel}")
    if not 0.0 <= choice_fraction <= 1.0:
        raise ValueError(f"choice_fraction must be in [0, 1], got {choice_fraction}")
    if turns < 1:
        raise ValueError(f"turns must be at least 1, got {turns}")
    novel = 0 if split == "train" else (max(1, n // 4) if n_novel is None else n_novel)
    root = Path(out_dir) / split
    (root / "videos").mkdir(parents=True, exist_ok=True)
    build = functools.partial(
        _build_clip,
        root=root,
        seed=seed,
        config=config,
        choice_fraction=choice_fraction,
        turns=turns,
        open_questions=open_questions,
    )
    jobs = [(split, i) for i in range(n)] + [("novel", i) for i in range(novel)]
    # Threads suffice: the time goes to the ffmpeg subprocesses and to numpy, which both run
    # outside the GIL. Results come back in job order, so files do not depend on scheduling.
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        built = list(pool.map(build, jobs))

    standard = [b for b in built if b["subset"] != "novel"]
    records = [r for b in standard for r in b["records"]]
    novel_records = [r for b in built if b["subset"] == "novel" for r in b["records"]]
    chapter_rows = [b["chapters"] for b in built if b["chapters"] is not None]
    if split == "train":
        questions = write_json_list(root / "train.json", records)
        novel_questions = None
    else:
        questions = write_jsonl(root / "eval.jsonl", records)
        novel_questions = write_jsonl(root / "eval_novel.jsonl", novel_records)
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
        novel_questions=novel_questions,
        n_novel_clips=novel,
        n_novel_records=len(novel_records),
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

    `options` go to `write_split` (n_novel, choice_fraction, turns, open_questions, workers).
    Returns the files written, keyed by split.
    """
    if split != "both" and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected train, eval or both")
    splits = SPLITS if split == "both" else (split,)
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
