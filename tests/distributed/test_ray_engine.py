"""`--engine ray` on a local Ray (2 CPUs, loopback) with the bundled demo model: the same records as
the local engine, exactly once through a Ctrl-C and a resume, and through a model worker that dies.

The demo's answers are compared between the engines, never written down here (the demo is retrained
from time to time). One Ray serves the module (the `ray_cluster` fixture); each run starts its own
model workers, which is what most of these tests' time goes to.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from ray_fixtures import records, untimed
from typer.testing import CliRunner

from crosslmm_cli.batch import ResultsLog
from crosslmm_cli.cli import app
from crosslmm_cli.cli.common import Session
from crosslmm_cli.distributed import RayOptions, TaskJob, run_task_on_ray
from crosslmm_cli.distributed.cluster import LOCAL_ONLY_ENV
from crosslmm_cli.distributed.resources import Placement
from crosslmm_cli.distributed.run import build_dataset
from crosslmm_cli.distributed.stages import EXIT_ONCE_ENV
from crosslmm_cli.engine.options import ModelOptions, RunOptions
from crosslmm_cli.tasks import DESCRIBE_PROMPT
from crosslmm_cli.video.discovery import find_videos

runner = CliRunner()
DEMO = ["--model", "demo", "--max-new-tokens", "24"]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_records(clips, tmp_path_factory):
    """The local engine's records for the clips: what every Ray run must match."""
    root = tmp_path_factory.mktemp("local")
    out = root / "local.jsonl"
    with pytest.MonkeyPatch.context() as env:  # module-scoped: before the per-test state, so its own
        for name in ("CONFIG", "CACHE", "DATA"):
            env.setenv(f"CROSSLMM_{name}_DIR", str(root / name.lower()))
        result = runner.invoke(app, ["batch", str(clips), *DEMO, "-o", str(out)])
    assert result.exit_code == 1, result.output  # two bad files
    return untimed(records(out))


def videos(folder):
    return [str(path) for path in find_videos(folder)]


def describe_on_ray(inputs, out, *, workers=1, emit=None):
    session = Session.start(RunOptions(model=ModelOptions(ref="demo", device="cpu")))
    generation = RunOptions().generation.__class__(max_new_tokens=24)
    with ResultsLog.open(out) as log:
        return run_task_on_ray(
            inputs, job=TaskJob("describe", DESCRIBE_PROMPT, generation), pipeline=session.pipeline_spec(),
            options=RayOptions(workers=workers), log=log, emit=emit,
        )


def test_ray_gives_the_local_engines_records_for_good_and_bad_files(
        ray_cluster, clips, local_records, tmp_path, isolated_state):
    out = tmp_path / "ray.jsonl"
    result = runner.invoke(app, ["batch", str(clips), *DEMO, "-o", str(out), "--engine", "ray", "--workers", "2"])
    assert result.exit_code == 1, result.output
    cached = list((isolated_state / "cache" / "features").glob("*.safetensors"))
    assert len(cached) == 2  # the workers filled the feature cache (not for the truncated file, nor the bad ones)
    got = records(out)
    assert untimed(got) == local_records  # greedy answers, failures and their one-line errors alike
    assert len(got) == len(videos(clips)) == 5
    assert {r["ok"] for r in got} == {True, False}
    errors = sorted(line for line in result.stderr.splitlines() if line.startswith("error:"))
    assert len(errors) == 2 and all(str(clips) in line for line in errors)
    assert "3 done, 0 skipped, 2 failed" in result.stderr
    again = runner.invoke(app, ["batch", str(clips), *DEMO, "-o", str(out), "--engine", "ray"])
    assert again.exit_code == 1 and "0 done, 3 skipped, 0 failed, 2 failed earlier" in again.stderr
    assert records(out) == got  # nothing to do: no Ray work, nothing written


def test_a_model_worker_that_dies_mid_run_is_replaced_without_a_lost_or_doubled_record(
        ray_cluster, clips, local_records, tmp_path, monkeypatch):
    marker = tmp_path / "worker-died"
    monkeypatch.setenv(EXIT_ONCE_ENV, str(marker))
    out = tmp_path / "ray.jsonl"
    summary = describe_on_ray(videos(clips), out)
    assert marker.exists()  # the only worker died after answering its second video, before handing it back
    got = records(out)
    assert sorted(r["path"] for r in got) == sorted(videos(clips))
    assert untimed(got) == local_records
    assert (summary.done, summary.failed, summary.interrupted) == (3, 2, False)


def test_decoding_stays_a_stage_of_cpu_tasks_when_its_resources_equal_the_workers(ray_cluster, clips):
    """Ray Data fuses a map into the next actor stage when their remote arguments match; the decode
    tasks' memory request keeps them apart (else each worker would decode its videos itself)."""
    session = Session.start(RunOptions(model=ModelOptions(ref="demo", device="cpu")))
    spec = session.pipeline_spec()
    placement = Placement(workers=1, worker_cpus=1.0, worker_gpus=0.0, decode_cpus=1.0, device="cpu")
    dataset = build_dataset(videos(clips), spec, TaskJob("describe", DESCRIBE_PROMPT, RunOptions().generation),
                            spec.decoder(), placement)
    plan = io.StringIO()
    with contextlib.redirect_stdout(plan):
        dataset.explain()
    optimized = plan.getvalue().rsplit("Physical Plan (Optimized)", 1)[1]
    assert "TaskPoolMapOperator[Map(decode_row)]" in optimized
    assert "ActorPoolMapOperator[MapBatches(AnswerVideos)]" in optimized


def test_ctrl_c_stops_the_cli_with_130_and_the_same_command_resumes(ray_cluster, clips, tmp_path):
    """Ctrl-C reaching a real `crosslmm batch --engine ray` process (joined to the test's Ray by address)."""
    import ray

    many = tmp_path / "many"
    many.mkdir()
    for copy in range(3):  # 15 inputs: the run is still going when the signal comes
        for video in find_videos(clips):
            shutil.copy(video, many / f"{copy}-{video.name}")
    out = tmp_path / "ray.jsonl"
    command = ["batch", str(many), *DEMO, "-o", str(out), "--engine", "ray", "--workers", "1",
               "--ray-address", ray.get_runtime_context().gcs_address]
    env = {k: v for k, v in os.environ.items() if k != LOCAL_ONLY_ENV}  # a new shell: joining 127.0.0.1 keeps to it
    driver = subprocess.Popen([sys.executable, "-m", "crosslmm_cli", *command], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env,  # SIGINT not ignored (tests/cli's start_and_stop)
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while len(out.read_text().splitlines()) < 2 if out.exists() else True:
            assert driver.poll() is None and time.monotonic() < deadline, driver.communicate()
            time.sleep(0.05)
        driver.send_signal(signal.SIGINT)
        _, stderr = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130, stderr
    assert "interrupted:" in stderr and "run the same command again to resume" in stderr
    written = out.read_bytes()
    assert written.endswith(b"\n") and 2 <= len(records(out)) < 15  # whole lines only, and it stopped early
    again = runner.invoke(app, command)
    assert again.exit_code == 1, again.output
    assert sorted(r["path"] for r in records(out)) == videos(many)  # each input exactly once


def test_each_input_is_written_once_whatever_the_pipeline_hands_back(ray_cluster, clips, tmp_path, monkeypatch):
    """The driver's own guard: a second record for an input is dropped, a missing one stops the run."""
    from crosslmm_cli.distributed import run as ray_run
    from crosslmm_cli.errors import ClusterError

    inputs = videos(clips)[:3]
    handed_back = []

    class Pipeline:
        def iter_rows(self):
            for index in handed_back:
                record = {"path": inputs[index], "ok": True, "task": "describe", "text": "x", "elapsed_s": 0.1}
                yield {"index": index, "record": json.dumps(record)}

    monkeypatch.setattr(ray_run, "build_dataset", lambda *args: Pipeline())
    handed_back[:] = [0, 1, 0, 2, 1]
    summary = describe_on_ray(inputs, tmp_path / "twice.jsonl")
    assert [r["path"] for r in records(tmp_path / "twice.jsonl")] == inputs and summary.done == 3
    handed_back[:] = [0, 2]
    with pytest.raises(ClusterError, match=f"no record for 1 input.*{inputs[1]}"):
        describe_on_ray(inputs, tmp_path / "lost.jsonl")
    assert [r["path"] for r in records(tmp_path / "lost.jsonl")] == [inputs[0], inputs[2]]


def test_describe_on_ray_prints_what_the_local_engine_prints(ray_cluster, clips):
    """`describe DIR` as text: a header and the description per video (in the order they finish on Ray)."""
    local = runner.invoke(app, ["describe", str(clips), *DEMO])
    on_ray = runner.invoke(app, ["describe", str(clips), *DEMO, "--engine", "ray"])
    assert on_ray.exit_code == local.exit_code == 1, on_ray.output

    def blocks(stdout):
        return sorted(block.strip() for block in stdout.split("==> ") if block.strip())

    assert blocks(on_ray.stdout) == blocks(local.stdout) and len(blocks(local.stdout)) == 3
    assert sorted(line for line in on_ray.stderr.splitlines() if line.startswith(("error:", "warning:"))) == sorted(
        line for line in local.stderr.splitlines() if line.startswith(("error:", "warning:")))
