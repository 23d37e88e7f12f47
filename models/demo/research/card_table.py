"""The model card's tables, from a build's eval.json (what `build.py --install` copies to models/demo/).

    PYTHONPATH=models/demo python -m research.card_table models/demo/eval.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from research.scores import BAR_TASKS

ORDER = (*BAR_TASKS, "size", "event", "when", "detail")


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def tables(scores: dict[str, Any]) -> str:
    mc, open_ = scores["multiple_choice"], scores["open"]
    lines = ["| question type | multiple choice | open answer | bar |", "|---|---:|---:|---:|"]
    for task in ORDER:
        if task in mc:
            bar = "90%" if task in BAR_TASKS else "-"
            lines.append(f"| {task} | {percent(mc[task]['accuracy'])} (n={mc[task]['n']}) | "
                         f"{percent(open_[task]['accuracy']) if task in open_ else '-'} | {bar} |")
    describe = scores["describe"]
    lines += ["", "| `describe`: the caption's facts | measured | bar |", "|---|---:|---:|",
              f"| precision | {percent(describe['precision'])} | 80% |",
              f"| recall | {percent(describe['recall'])} | 80% |"]
    if "chapterize" in scores:
        chapters = scores["chapterize"]
        lines += ["", "| `chapterize` on multi-scene clips | measured | bar |", "|---|---:|---:|",
                  f"| true boundaries found within one sampled-frame interval | {percent(chapters['boundary_recall'])} | 90% |",
                  f"| spurious boundaries | {percent(chapters['spurious'])} | at most 10% |",
                  f"| title facts: precision / recall | {percent(chapters['title_precision'])} / "
                  f"{percent(chapters['title_recall'])} | - |"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("eval_json", type=Path)
    print(tables(json.loads(parser.parse_args().eval_json.read_text(encoding="utf-8"))))


if __name__ == "__main__":
    main()
