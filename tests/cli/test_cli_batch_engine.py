"""The batch engine with real callables (no model): resume, failures, OOM retry, Ctrl-C, prefetch."""

import json
import threading
import time

import pytest

from crosslmm_cli.batch import run_batch
from crosslmm_cli.errors import InputError
from crosslmm_cli.batch.results import ResultsLog


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_input_gets_one_record_and_failures_go_on(tmp_path):
    out = tmp_path / "r.jsonl"
    errors = []

    def prepare(path):
        if path == "bad-decode":
            raise InputError(f"{path}: cannot decode")
        return path.upper()

    def process(path, prepared):
        if path == "bad-model":
            raise ValueError("boom")
        return {"text": prepared}

    with ResultsLog.open(out) as log:
        summary = run_batch(
            ["a", "bad-decode", "b", "bad-model"], task="describe", prepare=prepare, process=process, log=log,
            on_error=lambda p, e: errors.append(p),
        )
    got = records(out)
    assert [(r["path"], r["ok"]) for r in got] == [("a", True), ("bad-decode", False), ("b", True), ("bad-model", False)]
    assert got[0]["text"] == "A" and got[1]["error"] == "bad-decode: cannot decode"
    assert got[3]["error"] == "ValueError: boom" and "hint" in got[3]
    assert all(r["task"] == "describe" and r["elapsed_s"] >= 0 for r in got)
    assert errors == ["bad-decode", "bad-model"]
    assert (summary.done, summary.failed, summary.skipped, summary.exit_code) == (2, 2, 0, 1)


def test_resume_skips_ok_inputs_and_retries_failed_only_when_asked(tmp_path):
    out = tmp_path / "r.jsonl"
    calls = []
    flaky = {"b": 1}

    def process(path, _):
        calls.append(path)
        if flaky.get(path):
            flaky[path] -= 1
            raise RuntimeError("flaky")
        return {"text": path}

    def run(**kw):
        with ResultsLog.open(out) as log:
            return run_batch(["a", "b", "c"], task="describe", prepare=str, process=process, log=log, **kw)

    first = run()
    assert (first.done, first.failed, first.exit_code) == (2, 1, 1)
    second = run()
    assert (second.done, second.skipped, second.failed_before, second.exit_code) == (0, 2, 1, 1)
    third = run(retry_failed=True)
    assert (third.done, third.skipped, third.exit_code) == (1, 2, 0)
    assert calls == ["a", "b", "c", "b"]
    ok = [r["path"] for r in records(out) if r["ok"]]
    assert sorted(ok) == ["a", "b", "c"]


def test_out_of_memory_is_retried_once_with_the_reduced_input(tmp_path):
    seen = []

    class CudaOOM(RuntimeError):
        pass

    def process(path, frames):
        seen.append((path, frames))
        if frames > 4:
            raise CudaOOM("CUDA out of memory. Tried to allocate 2.00 GiB")
        return {"frames": frames}

    emitted = []
    summary = run_batch(
        ["x", "y"], task="describe", prepare=lambda p: 16 if p == "y" else 8, process=process,
        reduce=lambda n: n // 2 if n > 1 else None, emit=emitted.append,
    )
    assert seen == [("x", 8), ("x", 4), ("y", 16), ("y", 8)]
    assert emitted[0]["ok"] and emitted[0]["frames"] == 4 and emitted[0]["retried_after_oom"]
    assert not emitted[1]["ok"] and "out of accelerator memory" in emitted[1]["error"]
    assert "fewer frames" in emitted[1]["hint"]
    assert summary.failed == 1


def test_ctrl_c_drops_the_current_record_and_reports_interrupted(tmp_path):
    out = tmp_path / "r.jsonl"

    def process(path, _):
        if path == "c":
            raise KeyboardInterrupt
        return {"text": path}

    with ResultsLog.open(out) as log:
        summary = run_batch(["a", "b", "c", "d"], task="describe", prepare=str, process=process, log=log)
    assert summary.interrupted and summary.exit_code == 130 and summary.done == 2
    assert [r["path"] for r in records(out)] == ["a", "b"]
    assert "run the same command again" in summary.describe()


def test_ctrl_c_without_a_results_file_does_not_promise_a_resume():
    """Issue 14, item 5: `describe` (records to stdout only) said "run the same command again to resume"."""

    def process(path, _):
        raise KeyboardInterrupt

    summary = run_batch(["a", "b"], task="describe", prepare=str, process=process)
    text = summary.describe()
    assert summary.interrupted and not summary.resumable
    assert "run the same command again" not in text
    assert "a rerun starts over" in text and "--output FILE" in text


def test_describe_interrupted_says_a_rerun_starts_over(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from cli_fixtures import make_video
    from crosslmm_cli.cli import app
    from crosslmm_cli.tasks.video_tasks import TaskRunner

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(TaskRunner, "__call__", interrupted)
    video = make_video(tmp_path / "v.mp4", ("red", 1))
    result = CliRunner().invoke(app, ["describe", "--model", "demo", str(video)])
    assert result.exit_code == 130
    [line] = [ln for ln in result.stderr.splitlines() if ln.startswith("interrupted:")]
    assert "run the same command again" not in line and "a rerun starts over" in line


def test_decoding_the_next_input_overlaps_processing_this_one():
    events = []
    lock = threading.Lock()

    def prepare(path):
        with lock:
            events.append(("prepare-start", path, time.monotonic()))
        time.sleep(0.2)
        return path

    def process(path, _):
        with lock:
            events.append(("process-start", path, time.monotonic()))
        time.sleep(0.2)
        with lock:
            events.append(("process-end", path, time.monotonic()))
        return {}

    run_batch(["a", "b", "c"], task="describe", prepare=prepare, process=process)
    at = {(kind, path): t for kind, path, t in events}
    assert at[("prepare-start", "b")] < at[("process-end", "a")]  # b decodes while a is processed
    assert at[("prepare-start", "c")] < at[("process-end", "b")]


@pytest.mark.parametrize("question", [None, "what?"])
def test_records_name_task_and_question(question):
    emitted = []
    run_batch(["a"], task="ask" if question else "describe", question=question, prepare=str, process=lambda p, x: {},
              emit=emitted.append)
    assert emitted[0].get("question") == question
