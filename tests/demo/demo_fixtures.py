"""Shared constants and helpers of the demo-model tests (a uniquely named module, not conftest)."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "models" / "demo"
EXAMPLES = DEMO_DIR / "examples"
from crosslmm_cli.synthetic.questions import OBJECT_TASKS as BAR_TASKS  # the tasks issue 6 sets a bar on

#: The frames the demo preset samples.
FRAMES = 8
#: The held-out set of the tests: the first clips of the bar split `models/demo/build.py` scores
#: the card on (`crosslmm synth --seed 2 --split eval`, a seed no stage of the build reads): a clip
#: depends on (seed, subset, index) only, not on how many are written.
SEED = 2
N_CLIPS = 16


def card_claims() -> dict:
    """models/demo/eval.json: the accuracies `build.py --install` measured and the card states."""
    return json.loads((DEMO_DIR / "eval.json").read_text(encoding="utf-8"))


def truth(video: str) -> dict:
    """The ground truth (clip spec, chapters) of an example clip in models/demo/examples/."""
    for line in (EXAMPLES / "truth.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["video"] == video:
            return record
    raise KeyError(video)


def bar_accuracy(predictions) -> tuple[float, int]:
    """Accuracy over the bar tasks and the number of questions it counts."""
    scored = [p for p in predictions if p.item.task in BAR_TASKS and p.error is None]
    return sum(p.correct for p in scored) / len(scored), len(scored)
