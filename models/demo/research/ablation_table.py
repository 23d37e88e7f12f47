"""Markdown tables of the Table 2a miniature from the run folders of models/demo/build.py.

    PYTHONPATH=models/demo python -m research.ablation_table RUN_DIR [RUN_DIR ...]

Each RUN_DIR holds eval.json and eval_novel.json (`crosslmm eval --json` output), model/config.json
(the model's tokens per frame and cross-attention) and train.json (`crosslmm train --json`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from crosslmm_cli.synthetic.questions import OBJECT_TASKS
from research.describe_quality import describe_quality

TASKS = ("colour", "shape", "size", "count", "motion", "event", "when", "detail", "describe")


def object_accuracy(summary: dict) -> float:
    """Accuracy over OBJECT_TASKS in a `crosslmm eval --json` summary, weighted by question counts."""
    tasks = [summary["tasks"][task] for task in OBJECT_TASKS if task in summary["tasks"]]
    return sum(t["correct"] for t in tasks) / max(1, sum(t["n"] for t in tasks))


def setting(run: Path) -> str:
    config = json.loads((run / "model" / "config.json").read_text(encoding="utf-8"))
    blocks = "+".join(block.upper() for block in config["cross_attention_blocks"])
    blocks = blocks if config["cross_attention_layers"] else "none"
    return f"{config['tokens_per_frame']} tok/frame, cross-attention {blocks}"


def parameters(run: Path) -> int:
    """Every weight of the trained model (all of it trains in stage 2)."""
    import math

    from safetensors import safe_open

    with safe_open(run / "model" / "model.safetensors", framework="np") as weights:
        return sum(math.prod(weights.get_slice(name).get_shape()) for name in weights.keys())


def row(name: str, summary: dict, predictions: Path) -> str:
    tasks = summary["tasks"]
    cells = [f"{100 * tasks[t]['accuracy']:.1f}" if t in tasks else "-" for t in TASKS]
    captions = describe_quality(predictions)
    return (f"| {name} | " + " | ".join(cells) + f" | {100 * object_accuracy(summary):.1f} | {100 * summary['accuracy']:.1f} | "
            f"{100 * captions['background']:.0f} | {100 * captions['scenes']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    args = parser.parse_args()
    header = ("| setting | " + " | ".join(TASKS) + " | colour+shape+count+motion | all | caption: background | "
              "caption: scenes |")
    rule = "|---" * (len(TASKS) + 5) + "|"
    for split in ("eval", "eval_novel"):
        print(f"\n{split}.jsonl (accuracy, %)\n\n{header}\n{rule}")
        for run in args.runs:
            file = run / f"{split}.json"
            if file.exists():
                summary = json.loads(file.read_text(encoding="utf-8"))
                print(row(setting(run), summary, run / f"{split}-predictions.jsonl"))
    print("\ntraining\n\n| setting | steps | final loss | seconds | parameters |\n|---|---|---|---|---|")
    for run in args.runs:
        train = json.loads((run / "train.json").read_text(encoding="utf-8"))
        print(f"| {setting(run)} | {train['steps']} | {train['final_loss']:.3f} | {train['seconds']:.0f} | "
              f"{parameters(run):,} |")


if __name__ == "__main__":
    main()
