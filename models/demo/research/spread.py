"""The bars of several builds side by side, with their mean and range: one build is one draw.

A build's outcome after stage 2 varies from seed to seed (models/demo/README.md), so a recipe
change is judged by the mean of a few seeds against the spread of the unchanged recipe, not by
one run against another.

    PYTHONPATH=models/demo python -m research.spread seed0=runs/a/eval.json seed1=runs/b/eval.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from research.scores import BARS, bar_figures


def spread_table(runs: dict[str, dict[str, Any]]) -> str:
    """A markdown table: a row per build, then the mean and the range (min-max) of each figure."""
    figures = {build: bar_figures(scores) for build, scores in runs.items()}
    header = "| build | " + " | ".join(name for name, _, _ in BARS) + " |"
    lines = [header, "|---|" + "---:|" * len(BARS)]
    for build, row in figures.items():
        lines.append(f"| {build} | " + " | ".join(f"{100 * row[name]:.1f}" for name, _, _ in BARS) + " |")
    columns = {name: [row[name] for row in figures.values()] for name, _, _ in BARS}
    lines.append("| mean | " + " | ".join(f"{100 * statistics.fmean(v):.1f}" for v in columns.values()) + " |")
    lines.append("| range | " + " | ".join(f"{100 * min(v):.1f}-{100 * max(v):.1f}" for v in columns.values()) + " |")
    lines.append("| bar | " + " | ".join(("<= " if at_most else ">= ") + f"{100 * bar:.0f}" for _, bar, at_most in BARS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=EVAL_JSON", help="a label and a build's eval.json")
    args = parser.parse_args(argv)
    runs = {}
    for item in args.runs:
        name, sep, path = item.partition("=")
        if not sep:
            parser.error(f"{item}: expected NAME=EVAL_JSON")
        runs[name] = json.loads(Path(path).read_text(encoding="utf-8"))
    print(spread_table(runs))


if __name__ == "__main__":
    main()
