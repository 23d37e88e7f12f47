"""Do open replies name the object the question asked about, and are those that do right?

The world's sentence answers repeat the question's naming word before the answer ("Which shape
is cyan?" -> "It is a cyan ring."), and the answer is read where that word stands, so a reply
that names another object answers about that one. Per question type: replies that name the
question's word, and how many of those and of the others are right.

    PYTHONPATH=models/demo python -m research.reply_copy RUN/eval-open-predictions.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Container
from pathlib import Path
from typing import Any

from crosslmm_cli.synthetic.world import COLOURS, SHAPES

#: The word a question names its object by, per type: shape questions name a colour, the others a shape.
NAMED_BY = {"shape": COLOURS, "colour": SHAPES, "size": SHAPES, "motion": SHAPES}


def naming_word(question: str, words: Container[str]) -> str | None:
    found = [w for w in re.findall(r"[a-z]+", question.lower()) if w in words]
    return found[0] if len(found) == 1 else None


def reply_copies(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per type: questions, replies naming the question's word, and the right ones of each group."""
    report: dict[str, dict[str, int]] = {}
    for row in rows:
        words = NAMED_BY.get(row["task"])
        word = naming_word(row["question"], words) if words else None
        if word is None:
            continue
        counts = report.setdefault(row["task"], {"questions": 0, "copied": 0, "copied_right": 0, "other_right": 0})
        copied = word in re.findall(r"[a-z]+", row["prediction"].lower())
        counts["questions"] += 1
        counts["copied"] += copied
        counts["copied_right" if copied else "other_right"] += bool(row["correct"])
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("predictions", type=Path, help="`crosslmm eval --jsonl` of open questions")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.predictions.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(json.dumps(reply_copies(rows), indent=1))


if __name__ == "__main__":
    main()
