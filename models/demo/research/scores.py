"""The demo's bars, scored from a build's outputs (`crosslmm eval --jsonl`, `crosslmm batch --task chapterize`).

    PYTHONPATH=models/demo python -m research.scores RUN_DIR

- per question type: accuracy of multiple-choice and of open questions (colour, shape, count and
  motion are the bars; size, event, when and detail are reported too);
- describe: precision and recall of the caption's facts (research/caption_facts.py);
- chapterize: boundaries found within one sampled-frame interval, spurious ones, title facts
  (research/chapter_quality.py).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from research.caption_facts import precision_recall
from research.chapter_quality import chapter_quality

BAR_TASKS = ("colour", "shape", "count", "motion")
#: The issue's bars: (name, bar, at_most): a figure must reach its bar, or stay at or under it where at_most.
BARS = (*((f"{task} (multiple choice)", 0.9, False) for task in BAR_TASKS), ("describe precision", 0.8, False),
        ("describe recall", 0.8, False), ("chapter boundaries", 0.9, False), ("spurious chapters", 0.1, True))
#: tests/demo re-run the first clips of the bar split (a clip depends on its seed and index only):
#: their scores are kept apart, so a test compares the same questions.
TEST_CLIPS = 16


def split_eval_file(eval_jsonl: Path) -> tuple[Path, Path]:
    """`crosslmm synth --open-questions` writes both kinds to eval.jsonl: multiple choice (with
    options) to eval-mc.jsonl, open questions to eval-open.jsonl, beside it."""
    rows = [line for line in eval_jsonl.read_text(encoding="utf-8").splitlines() if line.strip()]
    mc, open_ = eval_jsonl.with_name("eval-mc.jsonl"), eval_jsonl.with_name("eval-open.jsonl")
    mc.write_text("".join(r + "\n" for r in rows if "options" in json.loads(r)), encoding="utf-8")
    open_.write_text("".join(r + "\n" for r in rows if "options" not in json.loads(r)), encoding="utf-8")
    return mc, open_


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def task_accuracy(predictions: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in predictions:
        by_task[row["task"]].append(row)
    return {task: {"accuracy": round(sum(r["correct"] for r in rows) / len(rows), 4), "n": len(rows)}
            for task, rows in sorted(by_task.items()) if task != "describe"}


def clip_number(row: dict[str, Any]) -> int:
    return int(Path(row["video"]).stem.rsplit("-", 1)[1])


def first_clips(predictions: list[dict[str, Any]], clips: int = TEST_CLIPS) -> dict[str, Any]:
    rows = [r for r in predictions if clip_number(r) < clips]
    described = precision_recall((r["prediction"], r["answer"]) for r in rows if r["task"] == "describe")
    return {"clips": clips, "tasks": task_accuracy(rows),
            "describe": {"precision": round(described["precision"], 4), "recall": round(described["recall"], 4)}}


def chapter_scores(records: Path, truth: Path) -> dict[str, float]:
    """`crosslmm batch --task chapterize` records against the split's chapters.jsonl."""
    truths = {Path(t["video"]).name: t for t in read_jsonl(truth)}
    rows = [(record, truths[Path(record["path"]).name]) for record in read_jsonl(records)
            if record.get("ok") and Path(record["path"]).name in truths]
    return {**{k: round(v, 4) if isinstance(v, float) else v for k, v in chapter_quality(rows).items()}, "videos": len(rows)}


def bar_figures(scores: dict[str, Any]) -> dict[str, float]:
    """The figures the bars are about, by bar name (the chapter bars only where chapters were scored)."""
    figures = {f"{task} (multiple choice)": scores["multiple_choice"].get(task, {}).get("accuracy", 0) for task in BAR_TASKS}
    figures |= {"describe precision": scores["describe"]["precision"], "describe recall": scores["describe"]["recall"]}
    if "chapterize" in scores:
        figures |= {"chapter boundaries": scores["chapterize"]["boundary_recall"],
                    "spurious chapters": scores["chapterize"]["spurious"]}
    return figures


def bars_met(scores: dict[str, Any]) -> dict[str, bool]:
    figures = bar_figures(scores)
    return {name: figures[name] <= bar if at_most else figures[name] >= bar for name, bar, at_most in BARS if name in figures}


def bar_scores(work: Path, bars: Path) -> dict[str, Any]:
    """Everything the model card reports, from a build folder's prediction files."""
    mc, open_ = read_jsonl(work / "eval-mc-predictions.jsonl"), read_jsonl(work / "eval-open-predictions.jsonl")
    described = [(r["prediction"], r["answer"]) for r in mc + open_ if r["task"] == "describe"]
    caption = precision_recall(described)
    result = {
        "multiple_choice": task_accuracy(mc),
        "open": task_accuracy(open_),
        "first_clips": {"multiple_choice": first_clips(mc), "open": first_clips(open_)},
        "describe": {"precision": round(caption["precision"], 4), "recall": round(caption["recall"], 4),
                     "facts": caption["facts"], "captions": len(described)},
    }
    if (work / "chapters.jsonl").exists():
        result["chapterize"] = chapter_scores(work / "chapters.jsonl", bars / "chapters.jsonl")
    result["bars_met"] = bars_met({**result, "describe": caption})  # the caption's figures unrounded
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work", type=Path, help="a build folder (models/demo/build.py --work)")
    args = parser.parse_args()
    print(json.dumps(bar_scores(args.work, args.work / "data" / "bars"), indent=1))


if __name__ == "__main__":
    main()
