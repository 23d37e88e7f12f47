"""How much of a caption is right: background and number of scenes, from `crosslmm eval --jsonl` output.

Exact match on a whole caption says little about a small model; these two facts are read off the
first clause of every caption, so a model that sees the video at all gets them right first.

    PYTHONPATH=models/demo python -m research.describe_quality RUN/eval-predictions.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

_BACKGROUND = re.compile(r"(black|white|gray|gradient) background")
_SCENES = re.compile(r"has (two|three) scenes")


def background(text: str) -> str | None:
    found = _BACKGROUND.search(text)
    return found.group(1) if found else None


def scenes(text: str) -> str:
    found = _SCENES.search(text)
    return found.group(1) if found else "one"


def describe_quality(path: Path) -> dict[str, float]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    described = [row for row in rows if row["task"] == "describe" and row.get("prediction") is not None]
    n = max(1, len(described))
    return {
        "n": len(described),
        "background": sum(background(r["prediction"]) == background(r["answer"]) for r in described) / n,
        "scenes": sum(scenes(r["prediction"]) == scenes(r["answer"]) for r in described) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("predictions", type=Path, nargs="+")
    for path in parser.parse_args().predictions:
        print(path, json.dumps(describe_quality(path)))


if __name__ == "__main__":
    main()
