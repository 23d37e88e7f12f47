"""The model benchmark's runner and report on the tiny shape (16 encoder tokens per frame)."""

from __future__ import annotations

import json

import pytest

from crosslmm_cli.bench.analytic import prefill_macs
from crosslmm_cli.bench.model import OUT_OF_MEMORY, ModelBenchOptions, run_model_benchmark
from crosslmm_cli.bench.report import TargetCheck, check_targets, ratio, to_json
from crosslmm_cli.modeling.shapes import config_for_shape

TINY = dict(model="tiny", frames=(2, 4), tokens_per_frame=(1, 4), baseline_tokens_per_frame=16, weights=("32bit",),
            device="cpu", text_tokens=6, repeats=2, min_repeat_time_s=60.0, decode_tokens=3)


@pytest.fixture(scope="module")
def tiny_result():
    return run_model_benchmark(ModelBenchOptions(**TINY))


def test_every_configuration_is_measured_and_counted(tiny_result):
    rows = tiny_result.rows
    assert [(r.frames, r.method) for r in rows] == [
        (2, "crosslmm-1"), (2, "crosslmm-4"), (2, "baseline-16"), (4, "crosslmm-1"), (4, "crosslmm-4"), (4, "baseline-16")]
    config = config_for_shape("tiny")
    for row in rows:
        assert row.status == "ok"
        baseline = row.method.startswith("baseline")
        assert row.macs == prefill_macs(config, row.frames, row.tokens_per_frame, 6, cross_attention=() if baseline else None)
        assert row.prompt_tokens == 6 + config.video_placeholder_length(row.frames, row.tokens_per_frame)
        assert row.peak_bytes > 0 and row.input_bytes == row.frames * 3 * 32 * 32 * 4 + row.prompt_tokens * 8
        assert len(row.prefill_runs_ms) == 2 and row.prefill_ms > 0 and row.decode_tokens_per_s > 0
        # T2V keys and values: 4 layers x K and V x frames x 16 tokens x kv_dim 16 x 4 bytes
        assert row.cross_attention_kv_bytes == (0 if baseline else 4 * 2 * row.frames * 16 * 16 * 4)


def test_ratios_are_taken_against_the_baseline_of_the_same_frames_and_weights(tiny_result):
    row = tiny_result.row("32bit", "crosslmm-4", 4)
    base = tiny_result.row("32bit", "baseline-16", 4)
    assert ratio(tiny_result, row, "macs") == row.macs.total / base.macs.total
    assert ratio(tiny_result, row, "memory") == row.activation_bytes / base.activation_bytes
    assert ratio(tiny_result, base, "macs") is None


def test_json_holds_rows_targets_and_the_papers_numbers(tiny_result):
    data = json.loads(to_json(tiny_result))
    assert data["model"] == "tiny" and len(data["rows"]) == 6
    assert data["rows"][0]["macs"]["total"] == tiny_result.rows[0].macs.total
    assert data["paper_figure4"]["32"]["crosslmm"] == [1753, 13.17, 335]
    assert data["environment"]["versions"]["torch"]
    assert data["targets"] == []  # 9 tokens per frame and 32/256 frames were not run


def test_memory_limit_marks_rows_out_of_memory_and_skips_larger_frame_counts():
    options = ModelBenchOptions(**{**TINY, "frames": (1, 2, 4), "tokens_per_frame": (4,), "decode_tokens": 0,
                                   "repeats": 1})
    free = run_model_benchmark(options)
    needed = {(r.frames, r.method): r.weight_bytes + r.activation_bytes for r in free.rows}
    # A limit that 2 frames of CrossLMM fit under but 2 frames of the baseline and 4 of CrossLMM do not.
    assert needed[(1, "baseline-16")] < needed[(2, "crosslmm-4")] < needed[(2, "baseline-16")] < needed[(4, "crosslmm-4")]
    limit = (needed[(2, "crosslmm-4")] + needed[(2, "baseline-16")]) // 2
    limited = run_model_benchmark(ModelBenchOptions(**{**options.__dict__, "memory_limit_bytes": limit}))
    rows = {(r.frames, r.method): r for r in limited.rows}
    assert [rows[(f, "crosslmm-4")].status for f in (1, 2, 4)] == ["ok", "ok", OUT_OF_MEMORY]
    assert [rows[(f, "baseline-16")].status for f in (1, 2, 4)] == ["ok", OUT_OF_MEMORY, OUT_OF_MEMORY]
    assert "over the" in rows[(2, "baseline-16")].note and "limit" in rows[(2, "baseline-16")].note
    assert rows[(4, "baseline-16")].note == "not run: 2 frames did not fit"
    assert rows[(2, "baseline-16")].prefill_ms is None and rows[(4, "baseline-16")].macs is None
    assert rows[(2, "crosslmm-4")].activation_bytes == free.row("32bit", "crosslmm-4", 2).activation_bytes


@pytest.mark.parametrize("change, message", [
    ({"frames": (0,)}, "--frames"),
    ({"tokens_per_frame": (5,)}, "perfect squares"),
    ({"weights": ("3bit",)}, "--weights"),
    ({"baseline_tokens_per_frame": 196}, "exceed this model's 16"),
    ({"model": "tiny", "kv_dtype": "int4"}, "cross_attention_kv_dtype"),
])
def test_bad_options_raise_value_errors_naming_them(change, message):
    with pytest.raises(ValueError, match=message):
        run_model_benchmark(ModelBenchOptions(**{**TINY, **change}))


def test_target_verdicts():
    assert TargetCheck("16bit", 32, "macs", 9, 0.25, 0.2).passed is True
    missed = TargetCheck("16bit", 256, "memory", 9, 0.15, 0.35)
    assert missed.passed is False and "MISSED" in missed.describe() and "35.0%" in missed.describe()
    assert TargetCheck("4bit", 32, "time", 9, 0.5, None).passed is None


def test_targets_are_read_from_the_rows(tiny_result):
    from dataclasses import replace

    from crosslmm_cli.bench.report import TARGETS

    # Relabel the tiny run as if it had measured CrossLMM-9 at 32 frames, to exercise the lookup.
    rows = [replace(r, frames=32, method="crosslmm-9" if r.method == "crosslmm-4" else r.method)
            for r in tiny_result.rows if r.frames == 4]
    fake = replace(tiny_result, rows=rows)
    checks = {c.quantity: c for c in check_targets(fake)}
    assert set(checks) == {name for frames, name, _, _ in TARGETS if frames == 32}
    assert checks["macs"].ratio == pytest.approx(rows[1].macs.total / rows[2].macs.total)


def test_a_saved_run_loads_back_unchanged(tiny_result):
    from crosslmm_cli.bench.model import ModelBenchResult

    loaded = ModelBenchResult.from_dict(json.loads(to_json(tiny_result)))
    assert loaded.rows == tiny_result.rows and loaded.options == tiny_result.options
    assert loaded.environment == tiny_result.environment and loaded.shape == tiny_result.shape
