"""README's examples, run as written (issue 14): every shell example in a ```console block, each
block as one bash session, in order, from a folder laid out like the repository root (`models`
is the repository's), and the Python example.

What is compared: the exit status (the one a following `$ echo $?` shows, else 1 where the shown
summary counts failed inputs, else 0), the `note:`,
`warning:` and `error:` lines and the `N done, ...` summaries (their seconds aside), and the whole
output of `crosslmm info` and `crosslmm models list`. The demo model's answers are not compared:
they change whenever the demo is retrained.

Left out, each marked in README.md by a `<!-- readme-examples: skip: why -->` line above it: the
examples that download from the Hugging Face Hub or need a real model or GPU (converting and
training LLaVA-OneVision-sized models), and `bench model` at full size (minutes). The set-up
commands run without their `pip install` (this suite runs inside that install) and without
`python -m pytest` (this suite itself).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = re.compile(r"<!-- readme-examples: skip: (.+?) -->")
SHOWN = re.compile(r"^(note|warning|error): ")
SUMMARY = re.compile(r"^(interrupted: )?\d+ done, .* in [\d.]+ s")
WHOLE_OUTPUT = ("crosslmm info", "crosslmm models list")

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


def blocks() -> list[tuple[str, str, str | None]]:
    """(language, text, reason to skip) of every fenced block in README.md, in order; the reason is
    that of a skip mark on the line just above the block."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", readme, re.S | re.M):
        line_above = readme[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.fullmatch(line_above.strip())
        found.append((match.group(1), match.group(2), skip.group(1) if skip else None))
    return found


def commands(text: str) -> list[tuple[str, list[str]]]:
    """A console block's `$ command` lines, each with the output lines shown under it."""
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return out


def setup_commands(text: str) -> list[tuple[str, list[str]]]:
    """The set-up block's commands, less `pip install ... &&` and less the test suite itself."""
    runnable = []
    for line in filter(None, (line.strip() for line in text.splitlines())):
        command = line.split(" && ", 1)[1] if line.startswith("python -m pip install") else line
        if "pytest" not in command:
            runnable.append((command, []))
    return runnable


@pytest.fixture(scope="module")
def repository_like(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A folder where README's relative paths resolve as from the repository root, and isolated state."""
    folder = tmp_path_factory.mktemp("readme")
    (folder / "models").symlink_to(ROOT / "models", target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k not in ("CROSSLMM_MODEL", "COLUMNS")}
    env.update({
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",  # this venv's crosslmm and python
        "CROSSLMM_CONFIG_DIR": str(folder / ".state" / "config"), "CROSSLMM_CACHE_DIR": str(folder / ".state" / "cache"),
        "CROSSLMM_DATA_DIR": str(folder / ".state" / "data"), "HF_HOME": str(folder / ".state" / "hf"),
        "HF_HUB_OFFLINE": "1", "NO_COLOR": "1",
    })
    return folder, env


def run_block(steps: list[tuple[str, list[str]]], folder: Path, env: dict[str, str]) -> list[tuple[int, str, str]]:
    """All of a block's commands in one bash session (variables carry over): (status, stdout, stderr) each."""
    logs = folder / ".logs"
    logs.mkdir(exist_ok=True)
    for old in logs.iterdir():
        old.unlink()
    script = "\n".join(f"{{ {command}\n}} > .logs/{i}.out 2> .logs/{i}.err; echo $? > .logs/{i}.rc"
                       for i, (command, _) in enumerate(steps) if command != "echo $?")
    subprocess.run(["bash", "-c", script], cwd=folder, env=env, check=True, timeout=900)
    results = []
    for i, (command, _) in enumerate(steps):
        if command == "echo $?":
            results.append((0, f"{results[-1][0]}\n", ""))
            continue
        results.append((int((logs / f"{i}.rc").read_text()), (logs / f"{i}.out").read_text(), (logs / f"{i}.err").read_text()))
    return results


def check(steps: list[tuple[str, list[str]]], results: list[tuple[int, str, str]]) -> None:
    for i, ((command, shown), (status, stdout, stderr)) in enumerate(zip(steps, results)):
        following = steps[i + 1] if i + 1 < len(steps) else None
        failures = any(SUMMARY.match(line) and re.search(r"\b[1-9]\d* failed", line) for line in shown)
        expected = int(following[1][0]) if following and following[0] == "echo $?" else int(failures)  # exit 1: some input failed
        where = f"`$ {command}` (stdout {stdout[-1500:]!r}, stderr {stderr[-1500:]!r})"
        assert status == expected, f"exit {status}, README shows {expected}: {where}"
        printed = (stdout + stderr).splitlines()
        for line in shown:
            if SHOWN.match(line):
                assert line in printed, f"README shows {line!r}: {where}"
            elif SUMMARY.match(line):
                masked = [re.sub(r"in [\d.]+ s", "in N s", p) for p in printed]
                assert re.sub(r"in [\d.]+ s", "in N s", line) in masked, f"README shows {line!r}: {where}"
        if command.startswith(WHOLE_OUTPUT):
            assert stdout.splitlines() == [line for line in shown if not SHOWN.match(line)], where
        if command == "echo $?":
            assert stdout.strip() == shown[0].strip(), where


def test_every_shell_example_in_readme_runs_as_written(repository_like):
    folder, env = repository_like
    ran = skipped = 0
    for language, text, skip in blocks():
        if language != "console" or skip:
            skipped += language == "console" or language == "bash"
            continue
        steps = commands(text) or setup_commands(text)
        if not steps:
            continue
        check(steps, run_block(steps, folder, env))
        ran += len(steps)
    assert ran >= 25 and skipped <= 7, (ran, skipped)  # a README rewrite must not silently skip its examples


def test_the_python_example_in_readme_runs(repository_like):
    folder, env = repository_like
    [code] = [text for language, text, skip in blocks() if language == "python" and not skip]
    result = subprocess.run([sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "(8, " in result.stdout and "Describe the video. ->" in result.stdout


def test_every_skipped_example_says_why():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    marks = [SKIP.fullmatch(line).group(1) for line in lines if SKIP.fullmatch(line)]
    assert 1 <= len(marks) <= 8 and all(len(reason) > 20 for reason in marks), marks
    assert all(SKIP.fullmatch(line) is None or lines[i + 1].startswith("```") for i, line in enumerate(lines)), \
        "a skip mark stands on the line just above its block"
