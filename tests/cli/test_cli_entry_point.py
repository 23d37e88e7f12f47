"""The installed `crosslmm` entry point as a shell runs it: pipes, exit codes, start-up time, and a
batch killed mid-run and resumed."""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_fixtures import make_video

pytestmark = pytest.mark.subprocess


def crosslmm() -> list[str]:
    """The console script next to this interpreter (the venv's), else `python -m crosslmm_cli`."""
    script = Path(sys.executable).parent / "crosslmm"
    if script.exists():
        return [str(script)]
    found = shutil.which("crosslmm")
    return [found] if found else [sys.executable, "-m", "crosslmm_cli"]


def run(*args, stdin=None, timeout=120):
    return subprocess.run([*crosslmm(), *map(str, args)], input=stdin, capture_output=True, text=True, timeout=timeout)


def cpu_seconds(*args) -> float:
    """CPU time (user + system) the command took: unlike wall time, not inflated by a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run(*args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert result.returncode == 0, result.stderr
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def test_help_and_version_answer_fast_without_importing_torch():
    assert "describe" in run("--help").stdout
    for args in (["--help"], ["--version"], ["ask", "--help"], ["batch", "--help"]):
        spent = cpu_seconds(*args)
        assert spent < 1.0, f"{args} took {spent:.2f} CPU seconds"
    code = "import sys, crosslmm_cli.cli; print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_exit_codes_usage_2_model_3(tmp_path):
    usage = run("ask", "v.mp4", "q", "--frames", "2", "--fps", "1")
    assert usage.returncode == 2 and usage.stdout == ""
    assert usage.stderr.strip() == "error: --frames and --fps exclude each other"
    assert run("ask", "--nope").returncode == 2
    clip = Path(__file__).resolve().parents[2] / "models" / "demo" / "examples" / "circle.mp4"  # inputs are checked first
    model = run("ask", clip, "q", "--model", tmp_path)
    assert model.returncode == 3 and model.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'config.json'}: ")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    colours = ["red", "green", "blue", "yellow", "white", "black", "orange", "purple"]
    return [make_video(root / f"{k}-{c}.mp4", (c, 2)) for k, c in enumerate(colours)]


def test_find_piped_into_describe_jsonl(clips, tiny_checkpoint):
    stdin = "".join(f"{p}\n" for p in clips[:2])
    result = run("describe", "--jsonl", "-", "--model", tiny_checkpoint, "--frames", "2", "--max-new-tokens", "4",
                 stdin=stdin)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in records] == [str(p) for p in clips[:2]] and all(r["ok"] for r in records)


def ok_counts(path: Path, clips) -> dict[str, int]:
    counts = {str(c): 0 for c in clips}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        counts[record["path"]] += record["ok"] is True
    return counts


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def start_and_stop(command: list[str], out: Path, sig: int, after: int) -> subprocess.CompletedProcess:
    """Run `command` until `out` holds `after` complete records, then send `sig`."""
    # Ctrl-C as a terminal delivers it, even when these tests run as a background job of a script
    # (such a job inherits SIGINT ignored, and Python then never raises KeyboardInterrupt).
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and lines(out) < after and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def test_interrupted_and_killed_batch_resumes_and_every_input_ends_with_exactly_one_ok_record(clips, tiny_checkpoint, tmp_path):
    # 32 inputs (hard links to the 8 clips): long enough that a loaded machine cannot finish the
    # batch between the test seeing a record and the signal landing.
    folder = tmp_path / "inputs"
    folder.mkdir()
    sources, clips = clips, [folder / f"{k:02d}.mp4" for k in range(32)]
    for k, link in enumerate(clips):
        os.link(sources[k % len(sources)], link)
    out = tmp_path / "results.jsonl"
    command = [*crosslmm(), "batch", str(folder), "--output", str(out), "--model", str(tiny_checkpoint),
               "--frames", "8", "--max-new-tokens", "48", "--temperature", "1", "--seed", "0", "--no-cache"]

    ctrl_c = start_and_stop(command, out, signal.SIGINT, after=1)
    assert ctrl_c.returncode == 130, ctrl_c.stderr
    assert "interrupted:" in ctrl_c.stderr and "run the same command again to resume" in ctrl_c.stderr
    after_ctrl_c = lines(out)
    assert 1 <= after_ctrl_c < len(clips), "the batch finished before it could be interrupted"
    assert out.read_bytes().endswith(b"\n")  # Ctrl-C leaves no half record

    killed = start_and_stop(command, out, signal.SIGKILL, after=after_ctrl_c + 1)
    assert killed.returncode == -signal.SIGKILL
    after_kill = lines(out)
    assert after_ctrl_c < after_kill < len(clips), "the batch finished before it could be killed"

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(clips) - after_kill} done, {after_kill} skipped, 0 failed" in resumed.stderr
    assert set(ok_counts(out, clips).values()) == {1}

    again = subprocess.run(command, capture_output=True, text=True, timeout=120)  # nothing left: no model loaded
    assert again.returncode == 0 and f"0 done, {len(clips)} skipped" in again.stderr
    assert set(ok_counts(out, clips).values()) == {1} and lines(out) == len(clips)
