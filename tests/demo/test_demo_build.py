"""`python models/demo/build.py` end to end, every stage for a few steps (`--setting smoke`),
resumed, and rebuilt from the same seed: the one command that rebuilds the bundled demo must keep
working and give the same weights again."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from demo_fixtures import DEMO_DIR

STAGES = ("data", "init", "0a vision", "0b language", "merge", "1a grounding", "1b captions", "2 fine-tune", "2b polish", "eval")
CHECKPOINTS = ("init", "stage0a", "stage0b", "stage0", "stage1a", "stage1b", "stage2", "model")  # each stage's output folder


def weight_digests(work: Path) -> dict[str, str]:
    return {name: hashlib.sha256((work / name / "model.safetensors").read_bytes()).hexdigest() for name in CHECKPOINTS}


def smoke_build(work: Path) -> list[str]:
    command = [sys.executable, str(DEMO_DIR / "build.py"), "--setting", "smoke", "--work", str(work)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return command


@pytest.fixture(scope="module")
def first_build(tmp_path_factory) -> tuple[Path, list[str]]:
    """One smoke build, shared by the tests below (each build is about two minutes of CPU)."""
    work = tmp_path_factory.mktemp("smoke") / "run"
    return work, smoke_build(work)


@pytest.mark.slow
def test_the_smoke_build_runs_every_stage_writes_a_loadable_model_and_resumes_without_redoing_any(first_build):
    from crosslmm_cli.checkpoints.loader import load_model

    work, command = first_build
    times = json.loads((work / "times.json").read_text())
    assert set(times) == set(STAGES)
    scores = json.loads((work / "eval.json").read_text())
    assert {"colour", "shape", "count", "motion"} <= set(scores["multiple_choice"])
    assert scores["times_s"] == {k: v for k, v in times.items() if k != "eval"}  # written by the eval stage itself
    assert scores["machine"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()  # what the bits depend on
    grounding = json.loads((work / "stage1a" / "stage1a.json").read_text())
    assert grounding["history"][-1]["step"] == 4  # the smoke setting's steps, not the demo's
    model, processor = load_model(work / "model", quantize="none", device="cpu")
    assert processor.num_frames == 8 and model.config.tokens_per_frame == 1

    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "== stage" not in again.stdout  # every stage's output is there: nothing runs twice
    assert json.loads((work / "times.json").read_text()) == times


@pytest.mark.slow
def test_the_smoke_build_gives_the_same_weights_at_every_stage_from_the_same_seed(first_build, tmp_path):
    """Every stage seeds its own randomness and pins its thread count: a second build in another
    folder (its own data and frame cache) must write the same bits, stage by stage."""
    smoke_build(tmp_path / "second")
    digests = weight_digests(first_build[0])
    assert weight_digests(tmp_path / "second") == digests
    assert len(set(digests.values())) == len(CHECKPOINTS)  # every stage changed the weights it was given


def test_the_build_seed_reaches_every_stage():
    """`--seed` must be a new draw of the whole recipe: stage 0a and 1a kept seed 0 before."""
    from recipe.settings import SETTINGS

    for name, make in SETTINGS.items():
        settings = make(3)
        assert (settings.seed, settings.vision.seed, settings.grounding.seed) == (3, 3, 3), name
    assert SETTINGS["smoke"](3).grounding.steps == 4  # the setting's own stage settings survive the seeding
