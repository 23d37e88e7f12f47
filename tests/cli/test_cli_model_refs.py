"""`--model` takes a preset name, a checkpoint directory and a hub id alike, in every command that
loads a model, and a checkpoint's own default frame count (processor_config.json's `num_frames`)
decides how many frames all of them sample."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crosslmm_cli.checkpoints.settings import ModelChoice
from crosslmm_cli.checkpoints.store import local_checkpoint_dir, resolve_model
from crosslmm_cli.cli import app
from crosslmm_cli.engine.loading import default_frames_of
from crosslmm_cli.modeling.checkpoint_files import CheckpointFileError
from crosslmm_cli.modeling.processing import CrossLMMProcessor, checkpoint_default_frames
from crosslmm_cli.synthetic import write_dataset

runner = CliRunner()
REPO = "someone/tiny-crosslmm"
OWN_FRAMES = 3  # neither the tool's default (32) nor the preset's (5): a wrong source shows


def set_own_frames(directory: Path, frames: int | None) -> None:
    path = directory / "processor_config.json"
    config = json.loads(path.read_text())
    config.pop("num_frames", None)
    if frames is not None:
        config["num_frames"] = frames
    path.write_text(json.dumps(config))


@pytest.fixture
def three_refs(tiny_checkpoint, tmp_path, isolated_state) -> dict[str, str]:
    """The same files as a directory, as a hub id in huggingface_hub's cache, and as a user preset."""
    import huggingface_hub.constants as hub

    directory = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, directory)
    set_own_frames(directory, OWN_FRAMES)
    repo_cache = Path(hub.HF_HUB_CACHE) / f"models--{REPO.replace('/', '--')}"
    snapshot = repo_cache / "snapshots" / ("0" * 40)
    shutil.copytree(directory, snapshot)
    (repo_cache / "refs").mkdir(parents=True)
    (repo_cache / "refs" / "main").write_text("0" * 40)
    presets = isolated_state / "config" / "presets"
    presets.mkdir(parents=True)
    (presets / "tiny-hub.toml").write_text(
        f'name = "tiny-hub"\ndescription = "test"\nrepo = "{REPO}"\nconvert = "none"\ndefault_frames = 5\n')
    return {"dir": str(directory), "hub": REPO, "preset": "tiny-hub"}


def test_the_processor_keeps_its_frame_count_through_save_and_load(tiny_checkpoint, tmp_path):
    processor = CrossLMMProcessor.from_pretrained(tiny_checkpoint)
    assert processor.num_frames is None and checkpoint_default_frames(tiny_checkpoint) is None
    processor.num_frames = 6
    processor.save_pretrained(tmp_path)
    assert CrossLMMProcessor.from_pretrained(tmp_path).num_frames == 6 == checkpoint_default_frames(tmp_path)


@pytest.mark.parametrize("bad", [0, -2, "8", True, 2.5])
def test_a_broken_frame_count_is_named_with_its_file(tiny_checkpoint, tmp_path, bad):
    directory = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, directory)
    config = json.loads((directory / "processor_config.json").read_text())
    (directory / "processor_config.json").write_text(json.dumps({**config, "num_frames": bad}))
    with pytest.raises(CheckpointFileError, match=r"processor_config\.json.*num_frames"):
        CrossLMMProcessor.from_pretrained(directory)
    assert checkpoint_default_frames(directory) is None


def test_default_frames_come_from_the_checkpoint_then_the_preset_then_the_tool(three_refs):
    resolved = {kind: resolve_model(ModelChoice(ref, "flag")) for kind, ref in three_refs.items()}
    assert {kind: default_frames_of(model) for kind, model in resolved.items()} == dict.fromkeys(three_refs, OWN_FRAMES)
    for kind in ("dir", "hub"):  # the same files without their own count
        set_own_frames(local_checkpoint_dir(resolved[kind].location), None)
    assert default_frames_of(resolved["dir"]) == 32  # the tool's default
    assert default_frames_of(resolve_model(ModelChoice("tiny-hub", "flag"))) == 5  # the preset's


def test_the_bundled_demo_samples_the_same_frames_by_name_and_by_directory():
    by_name = resolve_model(ModelChoice("demo", "flag"))
    by_directory = resolve_model(ModelChoice(by_name.location, "flag"))
    assert by_directory.preset is None
    assert default_frames_of(by_name) == default_frames_of(by_directory) == 8


def test_eval_answers_the_same_for_a_preset_a_directory_and_a_hub_id(three_refs, tmp_path):
    data = write_dataset(tmp_path / "synth", 2, seed=3, split="eval", workers=1)["eval"]
    outputs = {}
    for kind, ref in three_refs.items():
        result = runner.invoke(app, ["eval", "--model", ref, "--data", str(data.questions), "--limit", "3", "--json",
                                     "--quiet", "--jsonl", str(tmp_path / f"{kind}.jsonl")])
        assert result.exit_code == 0, result.output
        outputs[kind] = [json.loads(line) for line in (tmp_path / f"{kind}.jsonl").read_text().splitlines()]
        assert json.loads(result.stdout)["frames"] == OWN_FRAMES
    assert outputs["dir"] == outputs["hub"] == outputs["preset"] and len(outputs["dir"]) == 3


@pytest.mark.parametrize("command", ["train", "distill"])
def test_training_commands_take_all_three_and_the_checkpoints_frames(three_refs, tmp_path, command):
    data = write_dataset(tmp_path / "synth", 2, seed=4, split="train", workers=1)["train"]
    for kind, ref in three_refs.items():
        output = tmp_path / f"{command}-{kind}"
        source = ["--data", str(data.questions)] if command == "train" else ["--videos", str(data.root / "videos"), "--holdout", "0",
                                                                                     "--tokens-per-frame", "1"]
        result = runner.invoke(app, [command, "--model", ref, *source, "--output", str(output), "--max-steps", "1",
                                     "--workers", "0", "--quiet"])
        assert result.exit_code == 0, result.output
        run = json.loads((output / "run.json").read_text())
        assert run["frames"] == OWN_FRAMES
        assert checkpoint_default_frames(output) == OWN_FRAMES  # what it learned from, carried on


def test_an_unknown_model_is_one_line_naming_it(tmp_path):
    (tmp_path / "x.jsonl").write_text("")
    result = runner.invoke(app, ["eval", "--model", "no-such-model", "--data", str(tmp_path / "x.jsonl")])
    assert result.exit_code != 0
    assert "no-such-model" in result.output and "Traceback" not in result.output


def test_bench_model_takes_all_three_as_well_as_its_shape_presets(three_refs):
    for ref in three_refs.values():
        result = runner.invoke(app, ["bench", "model", "--model", ref, "--frames", "2", "--repeats", "1",
                                     "--weights", "32bit", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["rows"], result.stdout
