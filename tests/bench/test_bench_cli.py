"""`crosslmm bench` driven in-process through Typer's CliRunner."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from crosslmm_cli.cli.bench import parse_size

TINY_ARGS = ["bench", "model", "-m", "tiny", "--frames", "2,3", "--tokens-per-frame", "1,4",
             "--baseline-tokens-per-frame", "16", "--weights", "32bit", "--repeats", "1", "--decode-tokens", "2",
             "--device", "cpu", "--text-tokens", "5"]


def invoke(app, args):
    return CliRunner().invoke(app, args)


def test_model_json(app):
    result = invoke(app, [*TINY_ARGS, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(r["frames"], r["method"], r["status"]) for r in data["rows"]] == [
        (2, "crosslmm-1", "ok"), (2, "crosslmm-4", "ok"), (2, "baseline-16", "ok"),
        (3, "crosslmm-1", "ok"), (3, "crosslmm-4", "ok"), (3, "baseline-16", "ok")]
    assert data["options"]["weights"] == ["32bit"] and data["shape"]["vision"]["tokens_per_frame"] == 16


def test_model_table_and_saved_json(app, tmp_path):
    saved = tmp_path / "run.json"
    result = invoke(app, [*TINY_ARGS, "--save", str(saved)])
    assert result.exit_code == 0, result.output
    assert "tiny on cpu, 32bit weights" in result.stdout and "baseline-16" in result.stdout
    assert "load average at start" in result.stdout
    assert len(json.loads(saved.read_text())["rows"]) == 6
    shown = invoke(app, ["bench", "model", "--from-json", str(saved)])
    assert shown.exit_code == 0 and shown.stdout.count("baseline-16") == 2
    saved.write_text("{}")
    broken = invoke(app, ["bench", "model", "--from-json", str(saved)])
    assert broken.exit_code == 2 and "not a run saved by `crosslmm bench model --save`" in broken.stderr


@pytest.mark.parametrize("args, message", [
    (["--frames", "8,x"], "--frames: expected comma-separated integers"),
    (["--memory-limit", "12 parsecs"], "--memory-limit: cannot read"),
    (["--weights", "3bit"], "--weights must be among 4bit, 16bit, 32bit"),
    (["-m", "/no/such/checkpoint"], "/no/such/checkpoint"),
])
def test_bad_input_is_one_line_on_stderr(app, args, message):
    result = invoke(app, [*TINY_ARGS, *args])
    assert result.exit_code in (2, 3)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_missing_matplotlib_is_reported_before_running(app, tmp_path):
    if importlib.util.find_spec("matplotlib") is not None:
        pytest.skip("matplotlib is installed")
    result = invoke(app, [*TINY_ARGS, "--plot", str(tmp_path / "fig4.png")])
    assert result.exit_code == 2
    assert "--plot needs matplotlib" in result.stderr and "crosslmm[plot]" in result.stderr


def test_plot_draws_the_four_panels(app, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "fig4.png"
    result = invoke(app, [*TINY_ARGS, "--plot", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_computed_figures_for_the_7b_shape(app):
    result = invoke(app, ["bench", "model", "-m", "qwen2.5-7b", "--computed", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # T2V K/V: 7 layers x K,V x frames x tokens x kv_dim 512 x bytes
    kv = {row["variant"]: row for row in report["kv"]}
    assert kv["729 tokens, 16-bit"]["512"] == 7 * 2 * 512 * 729 * 512 * 2
    assert kv["196 tokens, float8"]["32"] == 7 * 2 * 32 * 196 * 512 * 1
    verdicts = {v["variant"]: v["fits"] for v in report["fit"]["variants"]}
    assert report["fit"]["frames"] == 512 and report["fit"]["weights"] == "4bit"
    assert verdicts == {"729 tokens, 16-bit": False, "196 tokens, 16-bit": True,
                        "729 tokens, float8": False, "196 tokens, float8": True}
    nine = {(r["frames"], r["method"]): r for r in report["prefill"]}
    assert nine[(32, "crosslmm-9")]["macs"]["total"] < 0.26 * nine[(32, "baseline-196")]["macs"]["total"]


def test_computed_needs_a_shape_preset(app, tmp_path):
    result = invoke(app, ["bench", "model", "-m", str(tmp_path), "--computed"])
    assert result.exit_code == 2 and "needs a shape preset" in result.stderr


def test_parse_size():
    assert parse_size("12GB") == 12 * 10**9
    assert parse_size("11.5 GiB") == int(11.5 * 2**30)
    assert parse_size("800mb") == 800 * 10**6
    with pytest.raises(ValueError, match="cannot read"):
        parse_size("lots")


def test_importing_the_command_module_does_not_import_torch():
    code = "import sys, crosslmm_cli.cli.bench; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_video_command_forwards_its_options_to_the_frame_sampling_benchmark(app, monkeypatch):
    import types

    calls = []
    fake = types.ModuleType("crosslmm_cli.bench.video")
    fake.run_video_benchmark = lambda **kwargs: calls.append(kwargs) or [{"method": "auto", "frames": 8, "seconds": 0.5}]
    fake.machine_description = lambda: "test machine"
    fake.format_table = lambda rows: f"| {len(rows)} row |"
    monkeypatch.setitem(sys.modules, "crosslmm_cli.bench.video", fake)
    result = invoke(app, ["bench", "video", "--frames", "8,32", "--repeats", "2", "--cache-dir", "/tmp/x", "--naive-slice", "5"])
    assert result.exit_code == 0, result.output
    assert calls[0]["frame_counts"] == (8, 32) and calls[0]["repeats"] == 2 and calls[0]["cache_dir"] == "/tmp/x"
    assert calls[0]["naive_slice_s"] == 5.0
    assert result.stdout.splitlines() == ["test machine", "| 1 row |"]
    as_json = invoke(app, ["bench", "video", "--json"])
    assert json.loads(as_json.stdout) == [{"method": "auto", "frames": 8, "seconds": 0.5}]


def test_small_models_run_on_one_cpu_thread_by_default(app):
    import torch

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        result = invoke(app, [*TINY_ARGS, "--json"])  # tiny: LLM 32 wide
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["environment"]["torch_threads"] == 1
        torch.set_num_threads(2)
        result = invoke(app, [*TINY_ARGS, "--threads", "2", "--json"])
        assert json.loads(result.stdout)["environment"]["torch_threads"] == 2
    finally:
        torch.set_num_threads(threads)


def test_bench_video_rows_use_only_the_requested_frame_counts(monkeypatch, tmp_path):
    """Issue 14, item 9: `bench video --frames 8` still printed 32-frame rows (cold cache, 1 min) and 8-frame batch rows."""
    from crosslmm_cli.bench import video as video_bench

    cases = []
    monkeypatch.setattr(video_bench, "ensure_media", lambda folder: {"hour": "h.mp4", "minute": "m.mp4", "clip": "c.mp4"})
    monkeypatch.setattr(video_bench, "_run_case", lambda case, repeats: cases.append(case) or {"seconds": 0.0, "cpu_s": 0.0})
    for counts in ((8,), (16, 64)):
        cases.clear()
        rows = video_bench.run_video_benchmark(cache_dir=tmp_path, frame_counts=counts, repeats=1)
        assert {row["frames"] for row in rows} - {None} <= set(counts), rows
        assert {case["frames"] for case in cases if "frames" in case} <= set(counts), cases
    default = video_bench.run_video_benchmark(cache_dir=tmp_path, repeats=1)  # the rows docs/benchmarks.md shows
    assert [row["frames"] for row in default if "cold" in row["video"]] == [32, 32, 32]
    assert [row["frames"] for row in default if row["method"].startswith("batch")] == [8, 8]


@pytest.mark.parametrize("model", ["models/demo", "tiny"])
def test_bench_model_derives_the_baseline_from_the_models_encoder(app, model):
    """Issue 14, item 9: `bench model -m models/demo` failed ("196 tokens per frame exceed ... 64")
    until --baseline-tokens-per-frame was given. The baseline is LLaVA-OneVision's count for the
    model's own encoder (its grid halved, at most all of it)."""
    from pathlib import Path

    from crosslmm_cli.bench.build import shape_config
    from crosslmm_cli.checkpoints.convert import onevision_tokens_per_frame
    from crosslmm_cli.checkpoints.loader import checkpoint_config, open_checkpoint

    root = Path(__file__).resolve().parents[2]
    path = str(root / model) if "/" in model else model
    config = shape_config(model) if "/" not in model else checkpoint_config(*open_checkpoint(path))
    expected = onevision_tokens_per_frame(config)
    assert 1 < expected <= config.vision_grid_side**2
    result = invoke(app, ["bench", "model", "-m", path, "--frames", "2", "--tokens-per-frame", "1", "--weights", "32bit",
                          "--repeats", "1", "--min-time", "0", "--decode-tokens", "0", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [row["method"] for row in data["rows"]] == ["crosslmm-1", f"baseline-{expected}"]
    assert data["options"]["baseline_tokens_per_frame"] == expected


def test_bench_model_on_a_checkpoint_prints_no_transformers_progress_bar(app):
    """Issue 14, item 10: "Loading weights: 100%|####|" appeared on stderr in `bench model -m models/demo`."""
    from pathlib import Path

    from transformers.utils import logging as transformers_logging

    was_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.enable_progress_bar()  # as in a fresh process
    try:
        demo = str(Path(__file__).resolve().parents[2] / "models" / "demo")
        result = invoke(app, ["bench", "model", "-m", demo, "--frames", "2", "--tokens-per-frame", "1", "--weights",
                              "32bit", "--repeats", "1", "--min-time", "0", "--decode-tokens", "0", "--device", "cpu",
                              "--json", "--quiet"])
    finally:
        if not was_on:
            transformers_logging.disable_progress_bar()
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
