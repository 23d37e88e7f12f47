"""`crosslmm eval`: accuracy on multiple-choice and open questions about videos, per task.

Eval file (JSONL; video paths relative to the file)::

    {"id", "video", "task", "question", "options": [...], "answer": "B"}                  multiple choice
    {"id", "video", "task", "question", "answer": "red", "match": "exact"|"contains"}     open

Questions are grouped by video: each clip is decoded and encoded once, its questions answered in
batches. A clip that cannot be decoded costs its own items (reported, left out of the accuracy),
never the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crosslmm_cli.training.answers import LETTERS, MATCH_MODES, multiple_choice_prompt, open_answer_correct, parse_choice
from crosslmm_cli.training.errors import DataFileError
from crosslmm_cli.training.records import RecordError, iter_json_records


@dataclass(frozen=True)
class EvalItem:
    id: str
    video: Path
    task: str
    question: str
    answer: str  # a letter for multiple choice
    options: tuple[str, ...] | None = None
    match: str = "exact"
    where: str = ""

    @property
    def prompt(self) -> str:
        return multiple_choice_prompt(self.question, self.options) if self.options else self.question


def parse_eval_item(record: Any, base: Path, *, fallback_id: str) -> EvalItem:
    if not isinstance(record, dict):
        raise RecordError(f"expected a JSON object, got {type(record).__name__}")
    for key in ("video", "question", "answer"):
        if not isinstance(record.get(key), str) or not record[key].strip():
            raise RecordError(f"'{key}' must be a non-empty string")
    options = record.get("options")
    answer = record["answer"].strip()
    if options is not None:
        if not isinstance(options, list) or not 2 <= len(options) <= len(LETTERS) or not all(isinstance(o, str) for o in options):
            raise RecordError(f"'options' must be a list of 2 to {len(LETTERS)} strings")
        answer = answer.upper()
        if answer not in LETTERS[: len(options)]:
            raise RecordError(f"answer {record['answer']!r} is not one of the option letters {LETTERS[:len(options)]}")
    match = record.get("match", "exact")
    if match not in MATCH_MODES:
        raise RecordError(f"'match' must be one of {MATCH_MODES}, got {match!r}")
    video = Path(record["video"])
    return EvalItem(id=str(record.get("id", fallback_id)), video=(video if video.is_absolute() else base / video).resolve(),
                    task=str(record.get("task") or "all"), question=record["question"].strip(), answer=answer,
                    options=tuple(options) if options is not None else None, match=match)


def read_eval_items(path: str | Path) -> tuple[list[EvalItem], list[str]]:
    """Usable items and one message per item left out; DataFileError if none is usable."""
    path = Path(path)
    base = path.resolve().parent
    items, problems = [], []
    for number, (where, record) in enumerate(iter_json_records(path), start=1):
        try:
            if isinstance(record, RecordError):
                raise record
            item = parse_eval_item(record, base, fallback_id=f"{path.stem}-{number}")
        except RecordError as error:
            problems.append(f"{where}: {error}")
            continue
        items.append(EvalItem(**{**item.__dict__, "where": where}))
    if not items:
        detail = f" (first problem: {problems[0]})" if problems else ""
        raise DataFileError(f"{path}: no usable eval item{detail}")
    return items, problems


@dataclass(frozen=True)
class Prediction:
    item: EvalItem
    reply: str | None  # None when the clip could not be read
    choice: str | None = None  # the parsed letter (multiple choice)
    correct: bool = False
    error: str | None = None

    def to_record(self) -> dict[str, Any]:
        item = self.item
        record: dict[str, Any] = {"id": item.id, "task": item.task, "video": str(item.video), "question": item.question}
        if item.options is not None:
            record["options"] = list(item.options)
        record.update(answer=item.answer, prediction=self.reply, correct=self.correct)
        if item.options is not None:
            record["parsed"] = self.choice
        if self.error is not None:
            record["error"] = self.error
        return record


def score(item: EvalItem, reply: str) -> Prediction:
    if item.options is not None:
        choice = parse_choice(reply, item.options)
        return Prediction(item, reply, choice, choice == item.answer)
    return Prediction(item, reply, None, open_answer_correct(reply, item.answer, item.match))


@dataclass
class TaskScore:
    n: int = 0
    correct: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0


@dataclass
class EvalSummary:
    """Accuracy over scored items; items whose clip failed are counted in `failed`, not in `n`."""

    overall: TaskScore = field(default_factory=TaskScore)
    tasks: dict[str, TaskScore] = field(default_factory=dict)
    failed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "accuracy": round(self.overall.accuracy, 6), "n": self.overall.n, "correct": self.overall.correct,
            "failed": self.failed,
            "tasks": {task: {"accuracy": round(s.accuracy, 6), "n": s.n, "correct": s.correct}
                      for task, s in sorted(self.tasks.items())},
        }


def summarise(predictions: Sequence[Prediction]) -> EvalSummary:
    summary = EvalSummary()
    for prediction in predictions:
        if prediction.error is not None:
            summary.failed += 1
            continue
        task = summary.tasks.setdefault(prediction.item.task, TaskScore())
        for bucket in (summary.overall, task):
            bucket.n += 1
            bucket.correct += int(prediction.correct)
    return summary


def group_by_video(items: Sequence[EvalItem]) -> dict[Path, list[EvalItem]]:
    groups: dict[Path, list[EvalItem]] = {}
    for item in items:
        groups.setdefault(item.video, []).append(item)
    return groups


def run_eval(model: Any, processor: Any, items: Sequence[EvalItem], frames: Any, *, batch_size: int = 8,
             max_new_tokens: int = 32, on_video: Callable[[int], None] | None = None) -> Iterator[Prediction]:
    """Predictions in video order (items of one video together); `frames` is a FrameLoader.

    Frames reach the encoder as they reach it in `crosslmm ask`: sampled by the same options, and
    preprocessed on the model's device by the same image processor (`FrameLoader.pixels`)."""
    from crosslmm_cli.engine.encoding import encode_pixels
    from crosslmm_cli.engine.generation import generate_replies
    from crosslmm_cli.training.frame_cache import ClipDecodeError

    for done, (video, video_items) in enumerate(group_by_video(items).items(), start=1):
        try:
            clip = frames.load(video)
        except ClipDecodeError as error:
            yield from (Prediction(item, None, error=str(error)) for item in video_items)
        else:
            features = encode_pixels(model, frames.pixels(clip, device=model.device))
            for start in range(0, len(video_items), batch_size):
                chunk = video_items[start : start + batch_size]
                replies = generate_replies(model, processor, clip, [item.prompt for item in chunk],
                                           features=features, max_new_tokens=max_new_tokens)
                yield from (score(item, reply) for item, reply in zip(chunk, replies))
        if on_video is not None:
            on_video(done)
