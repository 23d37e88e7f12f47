"""`crosslmm bench batch DIR`: videos per second of the local engine and of `--engine ray` on the same
folder, and the per-video costs docs/distributed.md's scaling model is built from.

Both engines run the task the way `crosslmm batch DIR` does (the same per-video step, `run_one`,
over the same decoder), with the feature cache off so every video is decoded and encoded:

  local     the batch runner in this process, the model loaded first (`load_s`, apart); each video's
            decode (`VideoPipeline.prepare`: probe and sample) and model work (the task runner:
            encoder, prefill, answer) timed around their calls: the per-video costs d and g
  ray       `run_task_on_ray`: wall seconds from the call (Ray starting, its workers loading the
            model), to the first record, and the steady rate from the first record to the last
  driver    the driver's CPU seconds per record in that steady part (Ray Data's executor, which
            runs in the driver, and the results log): what caps a cluster however many GPUs it has
  transfer  bytes of one decoded video as it travels from a decode task to a model worker

The records of the two runs are compared without their timings, as the tests do.
"""

from __future__ import annotations

import os
import pickle
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class EngineRun:
    """One engine over the folder."""

    engine: str
    videos: int
    wall_s: float  # the whole call (for ray: Ray's start and the workers' model loading included)
    first_record_s: float  # from the call to the first record
    steady_per_s: float | None  # videos/s from the first record to the last (None for a single video)
    load_s: float | None = None  # local: loading the model, before the call (not in wall_s)
    driver_cpu_per_record_s: float | None = None  # ray: the driver's CPU time per record in the steady part

    @property
    def videos_per_s(self) -> float:
        return self.videos / self.wall_s if self.wall_s else 0.0


@dataclass
class BatchBenchResult:
    directory: str
    model: str
    task: str
    placement: str
    local: EngineRun
    ray: EngineRun
    decode_s: float  # median per video, local (d)
    model_s: float  # median per video, local (g, on this machine's CPU)
    transfer_bytes: int  # median pickled decoded video
    records_equal: bool
    # the pipeline with empty stages: {"per_block", "records_per_s", "driver_cpu_per_record_s"} each
    ceiling: list[dict[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_batch_bench(
    inputs: Sequence[str], *, model: Any, model_options: Any, workers: int | None = None, decode_cpus: float = 1.0,
    address: str | None = None, max_new_tokens: int = 64, ceiling_blocks: int = 0,
    note: Callable[[str], None] = lambda _: None,
) -> BatchBenchResult:
    """Run both engines over `inputs` (a `ResolvedModel`, `ModelOptions`); see the module's docstring.
    With `ceiling_blocks`, also the pipeline with empty stages over that many blocks of 1, 4 and 16 inputs."""
    from crosslmm_cli.batch import run_batch
    from crosslmm_cli.distributed import RayOptions, TaskJob, run_task_on_ray
    from crosslmm_cli.engine.loading import PipelineSpec
    from crosslmm_cli.engine.options import FrameOptions, GenerationOptions
    from crosslmm_cli.tasks import DESCRIBE_PROMPT, TaskRunner

    spec = PipelineSpec(model=model, options=model_options, frames=FrameOptions(), cache_dir=None)
    job = TaskJob("describe", DESCRIBE_PROMPT, GenerationOptions(max_new_tokens=max_new_tokens))

    note(f"local: loading {model.ref}")
    started = time.monotonic()
    pipeline = spec.load()
    load_s = time.monotonic() - started
    runner = TaskRunner(pipeline, job.task, job.prompt, job.generation)
    decode_s: list[float] = []
    model_s: list[float] = []
    local_records: list[dict[str, Any]] = []
    local_times: list[float] = []
    note(f"local: {len(inputs)} videos")
    started = time.monotonic()
    run_batch(inputs, task=job.task, prepare=_timed(pipeline.prepare, decode_s), process=_timed(runner, model_s),
              emit=lambda record: (local_records.append(record), local_times.append(time.monotonic())))
    local = _engine_run("local", started, local_times, time.monotonic() - started, load_s=load_s)

    ray_records: list[dict[str, Any]] = []
    ray_times: list[float] = []
    cpu_at: list[float] = []
    options = RayOptions(address=address, workers=workers, decode_cpus=decode_cpus)
    placed: list[str] = []
    note(f"ray: {len(inputs)} videos")
    started = time.monotonic()
    run_task_on_ray(inputs, job=job, pipeline=spec, options=options, note=placed.append,
                    emit=lambda record: (ray_records.append(record), ray_times.append(time.monotonic()),
                                         cpu_at.append(time.process_time())))
    ray_run = _engine_run("ray", started, ray_times, time.monotonic() - started)
    if len(cpu_at) > 1:
        ray_run.driver_cpu_per_record_s = (cpu_at[-1] - cpu_at[0]) / (len(cpu_at) - 1)

    ceiling = []
    if ceiling_blocks:
        from crosslmm_cli.distributed.cluster import ray_cluster

        with ray_cluster(address):  # one Ray for the three (the run above paid for its own start)
            for per_block in (1, 4, 16):
                note(f"driver ceiling: {ceiling_blocks} blocks of {per_block}")
                rate, cpu = driver_ceiling(ceiling_blocks * per_block, per_block=per_block, workers=workers or 1,
                                           address=address)
                ceiling.append({"per_block": per_block, "records_per_s": rate, "driver_cpu_per_record_s": cpu})
    decoder = pipeline.decoder()
    sizes = [len(pickle.dumps(decoder.decode(path), protocol=pickle.HIGHEST_PROTOCOL)) for path in inputs[:5]
             if _decodes(decoder, path)]
    return BatchBenchResult(
        directory=os.path.commonpath(list(inputs)) if inputs else "", model=model.ref, task=job.task,
        placement=placed[0] if placed else "", local=local, ray=ray_run,
        decode_s=statistics.median(decode_s), model_s=statistics.median(model_s),
        transfer_bytes=int(statistics.median(sizes)) if sizes else 0,
        records_equal=_untimed(local_records) == _untimed(ray_records), ceiling=ceiling,
    )


def driver_ceiling(rows: int, *, per_block: int = 1, workers: int = 1, address: str | None = None) -> tuple[float, float]:
    """(records/s, driver CPU s per record) of the `--engine ray` pipeline with empty stages: no decoding,
    no model, a 600-byte record per input, each parsed and appended to a results log by the driver as a
    run does; `per_block` inputs per Ray Data block (a run chooses: `Placement.inputs_per_block`).
    What the pipeline and the driver cost per video, with nothing else to wait for."""
    import json
    import tempfile
    from pathlib import Path

    from crosslmm_cli.batch import ResultsLog
    from crosslmm_cli.distributed.cluster import ray_cluster
    from crosslmm_cli.distributed.resources import RayOptions, place
    from crosslmm_cli.distributed.run import build_dataset

    with ray_cluster(address) as cluster, tempfile.TemporaryDirectory() as scratch:
        placement = place(RayOptions(workers=workers), cluster, "cpu")
        paths = [f"/bench/{index:06d}.mp4" for index in range(rows)]
        dataset = build_dataset(paths, None, None, None, placement, decode=_no_decoding, answer=_NoModel,
                                per_block=per_block)
        times, cpu = [], []
        with ResultsLog.open(Path(scratch) / "ceiling.jsonl") as log:
            for row in dataset.iter_rows():
                log.append(json.loads(row["record"]))
                times.append(time.monotonic())
                cpu.append(time.process_time())
    steady = max(times[-1] - times[0], 1e-9)
    return (len(times) - 1) / steady, (cpu[-1] - cpu[0]) / (len(times) - 1)


def _no_decoding(row: dict[str, Any], *, decoder: Any) -> dict[str, Any]:  # noqa: ARG001 - the stage's signature
    """The decode stage with nothing to decode: the row as a decode task hands it on, with a small value."""
    return {"index": row["index"], "path": row["path"], "decoded": b"\0" * 1000}


class _NoModel:
    """The model stage with no model: each video's record at once (about the size of a describe's)."""

    def __init__(self, **_: Any) -> None:
        self.text = "a small cyan triangle moves down, " * 16

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        import json

        records = [json.dumps({"path": str(path), "ok": True, "task": "describe", "text": self.text, "elapsed_s": 0.1})
                   for path in batch["path"]]
        return {"index": [int(i) for i in batch["index"]], "path": [str(p) for p in batch["path"]], "record": records}


def _timed(fn: Callable[..., Any], into: list[float]) -> Callable[..., Any]:
    def timed(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            into.append(time.perf_counter() - started)

    return timed


def _engine_run(engine: str, started: float, times: list[float], wall_s: float, **extra: Any) -> EngineRun:
    steady = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else None
    return EngineRun(engine, len(times), wall_s, (times[0] - started) if times else wall_s, steady, **extra)


def _decodes(decoder: Any, path: str) -> bool:
    try:
        decoder.decode(path)
    except Exception:  # noqa: BLE001 - a bad input has no frames to send
        return False
    return True


def _untimed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(({k: v for k, v in r.items() if k != "elapsed_s"} for r in records), key=lambda r: r["path"])


def format_result(result: BatchBenchResult) -> str:
    """The table `crosslmm bench batch` prints."""
    lines = [f"{result.directory}: {result.local.videos} videos, {result.task} with {result.model}",
             f"ray placement: {result.placement}", "",
             "engine  videos  wall s  videos/s  first record s  steady videos/s  model load s  driver CPU ms/record"]
    for run in (result.local, result.ray):
        lines.append(f"{run.engine:<6}  {run.videos:>6}  {run.wall_s:>6.1f}  {run.videos_per_s:>8.2f}  "
                     f"{run.first_record_s:>14.1f}  {_num(run.steady_per_s, '.2f'):>15}  {_num(run.load_s, '.1f'):>12}  "
                     f"{_num(run.driver_cpu_per_record_s and run.driver_cpu_per_record_s * 1000, '.1f'):>20}")
    lines += ["", f"per video (local, median): decode {result.decode_s * 1000:.0f} ms, model {result.model_s * 1000:.0f} ms; "
                  f"decoded video sent to a worker: {result.transfer_bytes / 1e6:.2f} MB",
              f"records equal (without elapsed_s): {'yes' if result.records_equal else 'NO'}"]
    for row in result.ceiling:
        lines.append(f"driver ceiling (empty stages, {row['per_block']:g} input(s) per block): "
                     f"{row['records_per_s']:.0f} records/s, driver CPU {row['driver_cpu_per_record_s'] * 1000:.2f} ms/record")
    return "\n".join(lines)


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)
