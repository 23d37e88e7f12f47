"""`crosslmm bench cache|preprocess|train-step|train-memory`: the tool's own parts, measured at toy sizes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner


def invoke(app, args):
    return CliRunner().invoke(app, ["bench", *args])


def test_train_memory_computes_every_recipe(app):
    result = invoke(app, ["train-memory"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("## ") == 5 and "QLoRA CrossLMM-7B" in result.stdout


@pytest.mark.slow
def test_train_step_times_steps_and_the_frame_cache(app):
    result = invoke(app, ["train-step", "--frames", "2", "--batch", "1", "--steps", "1"])
    assert result.exit_code == 0, result.output
    assert "tiny: 1 thread(s): median step" in result.stdout and "from the frame cache" in result.stdout


def test_preprocess_measures_a_kernel_in_its_own_process(app):
    from crosslmm_cli.bench.preprocess import CONFIGS, run_preprocess_benchmark

    # Each kernel runs in a fresh process (it patches the resize it measures): the first one here.
    first = next(run_preprocess_benchmark(frames=2, height=48, width=64, size=32))
    assert first["name"] == CONFIGS[0]["name"] and first["output"] == [2, 3, 32, 32]
    assert invoke(app, ["preprocess", "--help"]).exit_code == 0


@pytest.mark.slow
def test_cache_measures_a_cold_and_a_warm_request(app):
    result = invoke(app, ["cache", "--frames", "2", "--repeats", "1", "--shape", "tiny", "--only", "cache", "--threads", "1"])
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["measure"] == "prepare+encode of one video" and row["cold_ms"] >= 0 and row["warm_ms"] >= 0
    assert invoke(app, ["cache", "--only", "both"]).exit_code == 2
