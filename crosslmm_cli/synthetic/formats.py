"""Records in the project's data formats (see notes/contracts: training and eval read them).

- train (LLaVA convention): {"id", "video", "conversations": [{"from": "human", "value":
  "<video>\\n..."}, {"from": "gpt", "value": "..."}, ...], "tasks": [...]}
- eval (JSONL): {"id", "video", "task", "question", "options", "answer": letter} for multiple
  choice, {"id", "video", "task", "question", "answer", "match"} for open questions
- chapters (JSONL): {"video", "duration", "chapters": [{"start", "end", "title"}]}
Video paths are relative to the file that names them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from crosslmm_cli.synthetic.captions import chapters
from crosslmm_cli.synthetic.questions import QA, make_choices, multiple_choice_prompt
from crosslmm_cli.synthetic.scene import Clip

VIDEO_TOKEN = "<video>"


def _turn(qa: QA, rng: np.random.Generator, choice_fraction: float) -> tuple[str, str]:
    """(human text, gpt text): open, or multiple choice answered with a letter."""
    if qa.alternatives and rng.random() < choice_fraction:
        options, letter = make_choices(qa, rng)
        return multiple_choice_prompt(qa.question, options), letter
    return qa.question, qa.reply


def train_records(
    clip: Clip,
    qas: Sequence[QA],
    video: str,
    rng: np.random.Generator,
    *,
    choice_fraction: float = 0.5,
    turns: int = 1,
) -> list[dict[str, Any]]:
    """LLaVA-style records for one clip: its questions in clip order, `turns` per record.

    One turn per record is the default because later turns of a conversation can often be
    answered from earlier answers ("what shape is the red object?" after "what colour is the
    circle?"), which teaches a small model to read the text instead of the video.
    """
    if turns < 1:
        raise ValueError(f"turns must be at least 1, got {turns}")
    records = []
    for k, start in enumerate(range(0, len(qas), turns)):
        chunk = qas[start : start + turns]
        conversation = []
        for j, qa in enumerate(chunk):
            human, gpt = _turn(qa, rng, choice_fraction)
            prefix = f"{VIDEO_TOKEN}\n" if j == 0 else ""
            conversation += [{"from": "human", "value": prefix + human}, {"from": "gpt", "value": gpt}]
        records.append(
            {"id": f"{clip.id}-{k:02d}", "video": video, "conversations": conversation, "tasks": [qa.task for qa in chunk]}
        )
    return records


def pick_eval_questions(
    qas: Sequence[QA], rng: np.random.Generator, prefer: frozenset[tuple[str, str]] = frozenset()
) -> list[QA]:
    """One question per task (first-seen task order); among a task's questions, those about a
    subject in `prefer` (the held-out colour-shape pairs) are chosen first."""
    picked = []
    for task in dict.fromkeys(qa.task for qa in qas):
        candidates = [qa for qa in qas if qa.task == task]
        preferred = [qa for qa in candidates if qa.subject in prefer]
        pool = preferred or candidates
        picked.append(pool[int(rng.integers(0, len(pool)))])
    return picked


def eval_records(
    clip: Clip, qas: Sequence[QA], video: str, rng: np.random.Generator, *, open_questions: bool = False
) -> list[dict[str, Any]]:
    """Eval items: multiple choice where the question has alternatives, else open (exact match,
    or `contains` where the world answers with a sentence); with `open_questions`, every
    multiple-choice item also comes as an open one."""
    records = []
    for qa in qas:
        base = {"id": f"{clip.id}-{qa.kind}", "video": video, "task": qa.task, "question": qa.question}
        if qa.alternatives:
            options, letter = make_choices(qa, rng)
            records.append({**base, "options": options, "answer": letter})
        if not qa.alternatives or open_questions:
            item_id = base["id"] + ("-open" if qa.alternatives else "")
            # A sentence answer ("The ring is red.") is right when it says the answer's words.
            match = "contains" if qa.statement else "exact"
            records.append({**base, "id": item_id, "answer": qa.answer, "match": match})
    return records


def chapter_record(clip: Clip, video: str) -> dict[str, Any]:
    return {"video": video, "duration": clip.duration, "chapters": chapters(clip)}


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def write_json_list(path: Path, records: Sequence[dict[str, Any]]) -> Path:
    """A JSON list with one record per line: valid JSON for LLaVA loaders, readable in a diff."""
    body = ",\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    path.write_text(f"[\n{body}\n]\n" if records else "[]\n", encoding="utf-8")
    return path
