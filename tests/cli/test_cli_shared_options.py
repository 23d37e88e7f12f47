"""A flag means one thing across commands (issue 14, item 8): `-q` was `--question` in ask and
`--quiet` in eval/train/distill; `--quantize auto` worked only in eval; ask's help did not admit
`--device cuda:N`."""

import pytest
import typer
from typer.testing import CliRunner

from crosslmm_cli.cli import app

#: Flags whose whole definition (names, values, help) must be the same wherever they appear.
SHARED = ("--quantize", "--device", "--quiet")
#: And --threads, in the commands that run a model (bench cache/preprocess/train-step time torch itself).
MODEL_COMMANDS = ("ask", "chat", "describe", "chapterize", "batch", "eval", "train", "distill", "bench model", "bench e2e")


def is_option(param) -> bool:
    """Typer's options (typer >= 0.20 vendors click: no isinstance check against the click package)."""
    return param.param_type_name == "option"


def all_commands() -> dict:
    found: dict = {}

    def walk(command, path: str) -> None:
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, f"{path} {name}".strip())
        else:
            found[path] = command

    walk(typer.main.get_command(app), "")
    return found


def definitions(long_name: str, commands=None) -> dict[str, tuple]:
    out = {}
    for path, command in all_commands().items():
        if commands is not None and path not in commands:
            continue
        for param in command.params:
            if is_option(param) and long_name in param.opts:
                out[path] = (tuple(sorted(param.opts)), param.metavar, param.help)
    return out


def test_a_short_flag_means_one_long_flag_in_every_command():
    meaning: dict[str, set[str]] = {}
    for command in all_commands().values():
        for param in command.params:
            if is_option(param):
                longs = [o for o in param.opts if o.startswith("--")]
                for short in (o for o in param.opts if not o.startswith("--")):
                    meaning.setdefault(short, set()).update(longs)
    assert {short: longs for short, longs in meaning.items() if len(longs) > 1} == {}
    assert meaning["-q"] == {"--question"}


@pytest.mark.parametrize("flag", SHARED)
def test_shared_flags_have_one_definition(flag):
    found = definitions(flag)
    assert len(found) >= 3, found
    assert len(set(found.values())) == 1, found


def test_threads_has_one_definition_in_the_commands_that_run_a_model():
    found = definitions("--threads", MODEL_COMMANDS)
    assert set(found) == set(MODEL_COMMANDS) and len(set(found.values())) == 1, found


@pytest.mark.parametrize("command", [["ask", "v.mp4", "q"], ["eval", "--data", "d.jsonl", "--model", "m"],
                                     ["bench", "e2e", "v.mp4"]])
def test_quantize_auto_and_device_cuda_n_are_accepted_and_bad_values_refused_alike(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for flags in (["--quantize", "auto"], ["--device", "cuda:1"]):
        result = runner.invoke(app, [*command, *flags])
        assert result.exit_code != 2, result.output  # past the flags (it fails later: no such input)
    for flags, message in ((["--quantize", "2bit"], "error: --quantize must be auto, 4bit, 8bit or none, not '2bit'"),
                           (["--device", "gpu"], "error: --device must be auto, cpu, cuda or cuda:N, not 'gpu'")):
        result = runner.invoke(app, [*command, *flags])
        assert result.exit_code == 2 and result.stderr.strip() == message, result.output
