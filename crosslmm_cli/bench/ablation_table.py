"""Markdown tables of the Table 2a miniature from the run folders of models/demo/build.py.

    python -m crosslmm_cli.bench.ablation_table RUN_DIR [RUN_DIR ...]

Each RUN_DIR holds eval.json and eval_novel.json (`crosslmm eval --json` output), init/config.json
(the model's tokens per frame and cross-attention) and train.json (`crosslmm train --json`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from crosslmm_cli.bench.describe_quality import describe_quality

TASKS = ("colour", "shape", "size", "count", "motion", "event", "when", "detail", "describe")
BAR_TASKS = ("colour", "shape", "count", "motion")


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
    bar = [tasks[t] for t in BAR_TASKS if t in tasks]
    bar_accuracy = sum(t["correct"] for t in bar) / max(1, sum(t["n"] for t in bar))
    cells = [f"{100 * tasks[t]['accuracy']:.1f}" if t in tasks else "-" for t in TASKS]
    captions = describe_quality(predictions)
    return (f"| {name} | " + " | ".join(cells) + f" | {100 * bar_accuracy:.1f} | {100 * summary['accuracy']:.1f} | "
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
