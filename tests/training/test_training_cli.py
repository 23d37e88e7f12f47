"""The `train`, `distill`, `eval` and `init` commands, in process (Typer's CliRunner)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from training_fixtures import COLOURS, QUESTION
from typer.testing import CliRunner

from crosslmm_cli.cli import distill as distill_cli
from crosslmm_cli.cli import eval as eval_cli
from crosslmm_cli.cli import init as init_cli
from crosslmm_cli.cli import train as train_cli


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    for module in (train_cli, distill_cli, eval_cli, init_cli):
        module.register(app)
    return app


def invoke(app, *args):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_command_modules_do_not_import_torch():
    code = ("import sys, crosslmm_cli.cli.train, crosslmm_cli.cli.distill, crosslmm_cli.cli.eval, crosslmm_cli.cli.init; "
            "print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_train_then_eval(app, colour_data, tiny_model_dir, tmp_path):
    result = invoke(app, "train", "--data", colour_data / "train.jsonl", "--model", tiny_model_dir, "--output",
                    tmp_path / "out", "--stage", "2", "--frames", "2", "--epochs", "2", "--batch-size", "2",
                    "--lr", "1e-3", "--workers", "1", "--quiet", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["steps"] == 4 and summary["trainable"]["vision"] > 0
    assert len((tmp_path / "out" / "metrics.jsonl").read_text().splitlines()) == 4

    options = list(COLOURS)
    lines = [{"id": name, "video": f"videos/{name}.mp4", "task": "colour", "question": QUESTION, "options": options,
              "answer": "ABCD"[i]} for i, name in enumerate(options)]
    lines += [{"id": "open", "video": "videos/red.mp4", "task": "open", "question": QUESTION, "answer": "red",
               "match": "contains"},
              {"id": "gone", "video": "videos/missing.mp4", "task": "colour", "question": QUESTION, "options": options,
               "answer": "A"}]
    (colour_data / "eval.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = invoke(app, "eval", "--data", colour_data / "eval.jsonl", "--model", tmp_path / "out", "--frames", "2",
                    "--max-new-tokens", "4", "--jsonl", tmp_path / "predictions.jsonl", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    records = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 6 and report["n"] == 5 and report["failed"] == 1
    scored = [r for r in records if "error" not in r]
    assert report["correct"] == sum(r["correct"] for r in scored)
    assert report["accuracy"] == pytest.approx(report["correct"] / 5, abs=1e-6)
    assert report["tasks"]["colour"]["n"] == 4 and report["tasks"]["open"]["n"] == 1
    assert "missing.mp4" in result.stderr and "accuracy" in result.stderr  # the warning and the table
    quiet = invoke(app, "eval", "--data", colour_data / "eval.jsonl", "--model", tmp_path / "out", "--frames", "2",
                   "--max-new-tokens", "4", "--quiet")  # issue 14, item 10: --quiet without --json printed nothing
    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stdout == f"accuracy {100 * report['accuracy']:.1f}% ({report['correct']} of 5)\n"


def test_errors_are_one_line_with_an_exit_code(app, colour_data, tiny_model_dir, tmp_path):
    base = ["train", "--model", tiny_model_dir, "--output", tmp_path / "out", "--quiet"]
    missing_data = invoke(app, *base, "--data", tmp_path / "none.jsonl")
    assert missing_data.exit_code == 1 and missing_data.stderr.strip() == f"error: {tmp_path / 'none.jsonl'}: no such file"
    missing_model = invoke(app, "train", "--data", colour_data / "train.jsonl", "--model", tmp_path / "nomodel",
                           "--output", tmp_path / "out2", "--quiet")
    assert missing_model.exit_code == 3 and missing_model.stderr.startswith("error: ")
    assert "Traceback" not in missing_model.stderr
    bad_group = invoke(app, *base, "--data", colour_data / "train.jsonl", "--trainable", "decoder")
    assert bad_group.exit_code == 1 and "unknown trainable group" in bad_group.stderr
    bad_lr = invoke(app, *base, "--data", colour_data / "train.jsonl", "--lr", "0")
    assert bad_lr.exit_code == 2 and bad_lr.stderr.strip() == "error: --lr must be > 0, got 0.0"
    assert invoke(app, *base, "--data", colour_data / "train.jsonl", "--stage", "3").exit_code == 2
    bad_device = invoke(app, *base, "--data", colour_data / "train.jsonl", "--device", "gpu")
    assert bad_device.exit_code == 2 and "--device must be auto, cpu, cuda or cuda:N" in bad_device.stderr
    bad_quantize = invoke(app, "eval", "--data", colour_data / "train.jsonl", "--model", tiny_model_dir, "--quantize", "3bit")
    assert bad_quantize.exit_code == 2 and "--quantize must be" in bad_quantize.stderr
    resume = invoke(app, *base, "--data", colour_data / "train.jsonl", "--resume")
    assert resume.exit_code == 1 and "no checkpoint to resume from" in resume.stderr and "hint:" in resume.stderr


def test_distill_command(app, colour_data, tiny_model_dir, tmp_path):
    (tmp_path / "prompts.txt").write_text("# generic prompts\nDescribe the video.\n\nWhat happens in the video?\n")
    result = invoke(app, "distill", "--model", tiny_model_dir, "--videos", colour_data / "videos", "--output",
                    tmp_path / "student", "--prompts", tmp_path / "prompts.txt", "--frames", "2",
                    "--tokens-per-frame", "1", "--teacher-tokens-per-frame", "16", "--max-answer-tokens", "4",
                    "--holdout", "1", "--batch-size", "3", "--workers", "0", "--quiet", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["teacher_runs"] == 4 and summary["train_answers"] == 6 and summary["steps"] == 2
    assert summary["heldout_kl_before"] is not None and summary["heldout_kl_after"] is not None
    assert (tmp_path / "student" / "config.json").is_file()


def test_init_command(app, parts, tmp_path):
    root, _, qwen = parts
    result = invoke(app, "init", tmp_path / "new", "--vision", root / "siglip", "--llm", root / "qwen",
                    "--tokens-per-frame", "4", "--cross-attention-every", "2", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["tokens_per_frame"] == 4
    config = json.loads((tmp_path / "new" / "config.json").read_text())
    assert config["model_type"] == "crosslmm" and config["cross_attention_layers"] == [1, 3]
    assert "crosslmm train --stage 1" in result.stderr
    missing = invoke(app, "init", tmp_path / "x", "--vision", tmp_path / "absent", "--llm", root / "qwen")
    assert missing.exit_code == 3 and missing.stderr.startswith("error: ") and "absent" in missing.stderr
