"""`python models/demo/build.py` end to end, every stage for a few steps (`--setting smoke`), and
resumed: the one command that rebuilds the bundled demo must keep working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from demo_fixtures import DEMO_DIR

STAGES = ("data", "init", "0a vision", "0b language", "merge", "1a grounding", "1b captions", "2 fine-tune", "2b polish", "eval")


@pytest.mark.slow
def test_the_smoke_build_runs_every_stage_writes_a_loadable_model_and_resumes_without_redoing_any(tmp_path):
    from crosslmm_cli.checkpoints.loader import load_model

    work = tmp_path / "run"
    command = [sys.executable, str(DEMO_DIR / "build.py"), "--setting", "smoke", "--work", str(work)]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    times = json.loads((work / "times.json").read_text())
    assert set(times) == set(STAGES)
    scores = json.loads((work / "eval.json").read_text())
    assert {"colour", "shape", "count", "motion"} <= set(scores["multiple_choice"])
    assert scores["times_s"] == {k: v for k, v in times.items() if k != "eval"}  # written by the eval stage itself
    grounding = json.loads((work / "stage1a" / "stage1a.json").read_text())
    assert grounding["history"][-1]["step"] == 4  # the smoke setting's steps, not the demo's
    model, processor = load_model(work / "model", quantize="none", device="cpu")
    assert processor.num_frames == 8 and model.config.tokens_per_frame == 1

    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "== stage" not in again.stdout  # every stage's output is there: nothing runs twice
    assert json.loads((work / "times.json").read_text()) == times
