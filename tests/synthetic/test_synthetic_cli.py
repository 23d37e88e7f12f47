"""`crosslmm synth`, driven in-process through the real command and Typer's CliRunner."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from crosslmm_cli.synthetic import write_dataset


@pytest.fixture()
def app() -> typer.Typer:
    from crosslmm_cli.cli import app

    return app


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_synth_writes_what_the_library_writes(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "cli"), "--n", "3", "--seed", "4"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("train: 3 clips (") and lines[0].endswith(str(tmp_path / "cli" / "train" / "train.json"))
    assert lines[1].startswith("eval: 3 clips (") and lines[1].endswith(str(tmp_path / "cli" / "eval" / "eval.jsonl"))
    assert lines[2].startswith("eval (novel colour-shape pairs): 1 clips, ")  # a quarter of 3, at least one
    assert lines[2].endswith(str(tmp_path / "cli" / "eval" / "eval_novel.jsonl")) and len(lines) == 3
    assert result.stderr.startswith("wrote 7 clips (128x128, 8 fps) in ")
    write_dataset(tmp_path / "lib", 3, seed=4)
    assert _tree(tmp_path / "cli") == _tree(tmp_path / "lib")


def test_synth_options_reach_the_world(app: typer.Typer, tmp_path: Path) -> None:
    args = ["synth", "--out", str(tmp_path), "--n", "2", "--split", "eval", "--frame-size", "64", "--fps", "4"]
    result = CliRunner().invoke(app, [*args, "--multi-scene", "1", "--open-questions", "--n-novel", "3"])
    assert result.exit_code == 0, result.output
    assert "eval (novel colour-shape pairs): 3 clips" in result.stdout
    world = (tmp_path / "eval" / "world.json").read_text()
    assert '"frame_size": 64' in world and '"fps": 4' in world and '"multi_scene_fraction": 1.0' in world
    assert not (tmp_path / "train").exists()
    assert "eval: 2 clips (2 with chapters)" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--frame-size", "100"], 2, "error: frame_size must be at least 32 and a multiple of 16, got 100"),
        (["--fps", "3"], 2, "error: fps must be a multiple of 2 so that events on the 0.5 s grid fall on frames, got 3"),
    ],
)
def test_bad_settings_give_one_line_errors(app: typer.Typer, tmp_path: Path, args: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path), "--n", "1", *args])
    assert result.exit_code == code and result.stderr.strip() == message
    assert "Traceback" not in result.output


def test_unwritable_output_names_the_path(app: typer.Typer, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(app, ["synth", "--out", str(blocker), "--n", "1", "--split", "eval"])
    assert result.exit_code == 1 and result.stderr.startswith(f"error: {blocker}")
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_ffmpeg_is_a_clear_error(app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import crosslmm_cli.synthetic.video_writer as video_writer

    monkeypatch.setattr(video_writer, "ffmpeg_executable", lambda: str(tmp_path / "no-ffmpeg"))
    result = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "out"), "--n", "1", "--split", "eval"])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(f"error: {tmp_path / 'out' / 'eval' / 'videos'}/eval-0-00000.mp4: cannot run ffmpeg")


def test_the_command_module_imports_neither_torch_nor_the_world_eagerly() -> None:
    code = "import sys, crosslmm_cli.cli.synth; print('torch' in sys.modules, 'crosslmm_cli.synthetic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_world_itself_does_not_import_torch() -> None:
    code = "import sys, crosslmm_cli.synthetic; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
