"""Every command checks its inputs before it loads a model (issue 14, item 3): a missing file, a
URL, a directory or a file that is not a video fails at once, with one line naming it."""

import resource

import pytest
from typer.testing import CliRunner

from cli_fixtures import make_video
from crosslmm_cli.cli import app
from crosslmm_cli.engine.inference import Engine
from test_cli_entry_point import run

runner = CliRunner()


@pytest.fixture
def no_model(monkeypatch):
    """Loading a model fails the test: the input should have been refused before."""

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(Engine, "load", refuse)


def bad_inputs(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    return {
        str(tmp_path / "nothere.mp4"): "no such file",
        "https://example.com/v.mp4": "is a URL",
        str(tmp_path): "is a directory",
        str(text): "is not a video or image file",
        str(empty): "is empty",
    }


@pytest.mark.parametrize("command", [["ask", "{}", "what?"], ["chat", "{}"], ["chapterize", "{}"]])
def test_single_video_commands_refuse_a_bad_input_before_loading(command, tmp_path, no_model):
    for path, cause in bad_inputs(tmp_path).items():
        result = runner.invoke(app, [part.format(path) for part in command], input="")
        assert result.exit_code == 1, result.output
        [line] = result.stderr.strip().splitlines()
        assert line.startswith(f"error: {path}: ") and cause in line, line


@pytest.mark.parametrize("command", [["describe"], ["describe", "--jsonl"], ["batch"]])
def test_many_video_commands_load_no_model_when_no_input_is_a_video(command, tmp_path, no_model):
    inputs = bad_inputs(tmp_path)
    del inputs[str(tmp_path)]  # a directory is searched for videos, not refused
    result = runner.invoke(app, [*command, *inputs])
    assert result.exit_code == 1, result.output
    for path, cause in inputs.items():
        assert any(line.startswith(f"error: {path}: ") and cause in line for line in result.stderr.splitlines()), path


def test_a_batch_with_one_video_among_bad_inputs_loads_the_model_once(tmp_path, monkeypatch):
    loads = []
    original = Engine.load.__func__

    def counting(cls, *args, **kwargs):
        loads.append(args[0])
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(Engine, "load", classmethod(counting))
    video = make_video(tmp_path / "ok.mp4", ("red", 1))
    result = runner.invoke(app, ["describe", "--jsonl", "--model", "demo", str(tmp_path / "nothere.mp4"), str(video),
                                 "--max-new-tokens", "4"])
    assert result.exit_code == 1 and len(loads) == 1
    assert [r.count('"ok": true') for r in result.stdout.splitlines()] == [0, 1]


@pytest.mark.subprocess
@pytest.mark.parametrize(("args", "cause"), [
    (["ask", "nothere.mp4", "what?"], "nothere.mp4: no such file"),
    (["describe", "nothere.mp4"], "nothere.mp4: no such file"),
    (["eval", "--data", "nothere.jsonl", "--model", "demo"], "nothere.jsonl: no such file"),
    (["train", "--stage", "1", "--model", "demo", "--data", "nothere.jsonl", "--output", "out"], "nothere.jsonl: no such file"),
    (["distill", "--model", "demo", "--videos", "nothere", "--output", "out"], "nothere: not a folder of videos"),
])
def test_a_missing_input_fails_in_under_a_cpu_second(args, cause, tmp_path, monkeypatch):
    """No torch import and no model: CPU time (not wall time, which a busy machine inflates)."""
    monkeypatch.chdir(tmp_path)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run(*args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert result.returncode == 1 and result.stderr.strip() == f"error: {cause}"
    spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert spent < 1.5, f"{args} took {spent:.2f} CPU seconds"
