"""README's two set-up commands are the contract with users and with CI: keep them in sync."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Set-up", 1)[1]
    block = re.search(r"```console\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_readme_has_exactly_two_setup_commands():
    commands = _setup_commands()
    assert len(commands) == 2, commands
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    last_command = [line for line in ci if line.strip() and not line.lstrip().startswith("#")][-1]
    assert last_command.strip() == _setup_commands()[1]


def test_first_command_installs_and_asks_the_bundled_demo_about_a_bundled_clip():
    install, ask = _setup_commands()[0].split(" && ", 1)
    assert install.startswith("python -m pip install") and '"torch==2.13.0"' in install
    words = ask.split()
    assert words[:4] == ["crosslmm", "ask", "--model", "demo"]
    clip = ROOT / words[4]
    assert clip.is_file() and clip.parent == ROOT / "models" / "demo" / "examples"
