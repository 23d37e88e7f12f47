"""The Table 2a miniature as markdown, from the run folders of `models/demo/build.py --setting ...`.

    PYTHONPATH=models/demo python -m research.ablation_table RUN_DIR [RUN_DIR ...]

Each RUN_DIR holds eval.json (research/scores.py) and model/config.json (the model's tokens per
frame and cross-attention).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from research.card_table import ORDER, percent


def setting(run: Path) -> str:
    config = json.loads((run / "model" / "config.json").read_text(encoding="utf-8"))
    blocks = "+".join(block.upper() for block in config["cross_attention_blocks"]) if config["cross_attention_layers"] else "none"
    return f"{config['tokens_per_frame']} tok/frame, {blocks}"


def table(runs: list[Path]) -> str:
    lines = ["| setting | " + " | ".join(ORDER) + " | describe P / R |", "|---|" + "---:|" * (len(ORDER) + 1)]
    for run in runs:
        scores = json.loads((run / "eval.json").read_text(encoding="utf-8"))
        mc = scores["multiple_choice"]
        cells = [percent(mc[task]["accuracy"]) if task in mc else "-" for task in ORDER]
        describe = scores["describe"]
        lines.append(f"| {setting(run)} | " + " | ".join(cells) + f" | {percent(describe['precision'])} / {percent(describe['recall'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path, nargs="+")
    print(table(parser.parse_args().runs))


if __name__ == "__main__":
    main()
