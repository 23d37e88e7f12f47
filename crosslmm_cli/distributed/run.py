"""`--engine ray`: a task over many videos as a Ray Data pipeline, exactly once and resumable.

    inputs still to do (plan_batch)  ->  ray.data.from_items
      -> map(decode_row)                CPU tasks: probe and sample the frames (FrameDecoder)
      -> map_batches(AnswerVideos)      an actor pool: the model, once per actor; run_one per video
      -> iter_rows() on the driver      each record appended to the results log as it arrives

The driver is the only writer: it appends each record with the same `ResultsLog` (one whole
line, flushed) the local engine uses. Exactly once: what the log already holds is never sent to
Ray (resume after Ctrl-C or a killed driver, as locally); Ray restarts a crashed actor and redoes
its batch, and a record for an input that already has one in this run is dropped, so a retried
worker never writes twice; and when the pipeline ends, every input sent must have come back, or
the run stops with an error (the records so far stay, and the same command does the rest).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from crosslmm_cli.batch import BatchProgress, BatchSummary, ResultsLog, plan_batch
from crosslmm_cli.distributed.cluster import import_ray, ray_cluster
from crosslmm_cli.distributed.resources import Placement, RayOptions, place
from crosslmm_cli.distributed.stages import EXIT_ONCE_ENV, AnswerVideos, TaskJob, decode_row
from crosslmm_cli.errors import ClusterError, CrossLMMError, first_line, from_wire, wire_code
from crosslmm_cli.tasks.many import task_frames, task_question

if TYPE_CHECKING:
    from crosslmm_cli.engine.loading import PipelineSpec
    from crosslmm_cli.engine.pipeline import FrameDecoder

#: The last line of a worker's traceback when one of our errors stopped it.
_OUR_ERROR_LINE = re.compile(r"^(crosslmm_cli(?:\.\w+)*)\.(\w+): (.+)$", re.M)
#: Bytes of memory a decode task asks Ray for (a logical reservation: Ray schedules by it, enforces nothing).
DECODE_MEMORY = 256 * 2**20
#: Batches queued at each model actor: the next video waits there while this one is answered.
TASKS_PER_ACTOR = 2


def run_task_on_ray(
    inputs: Sequence[str],
    *,
    job: TaskJob,
    pipeline: PipelineSpec | Callable[[], PipelineSpec],
    options: RayOptions = RayOptions(),
    log: ResultsLog | None = None,
    emit: Callable[[dict[str, Any]], None] | None = None,
    on_error: Callable[[str, BaseException], None] | None = None,
    retry_failed: bool = False,
    progress: BatchProgress | None = None,
    note: Callable[[str], None] | None = None,
    verbose: bool = False,
) -> BatchSummary:
    """`tasks.run_task_over_videos` on Ray: the same records, skips and summary; never raises for one input.

    `pipeline` describes the model and sampling the workers load (or makes that description: it is
    called only if some input is left to do, as the local engine loads its model only then); `note`
    hears how the pipeline was placed. Ray starts only if some input is left to do."""
    started = time.monotonic()
    question = task_question(job.task, job.prompt)
    todo, skipped, failed_before = plan_batch(inputs, task=job.task, question=question, log=log, retry_failed=retry_failed)
    done = failed = 0
    interrupted = False
    if progress:
        progress.start(len(todo), skipped + failed_before)
    try:
        with contextlib.closing(_records(todo, job, pipeline, options, note, verbose)) as records:
            for record in records:
                if log is not None:
                    log.append(record)
                if emit is not None:
                    emit(record)
                if record["ok"]:
                    done += 1
                else:
                    failed += 1
                    if on_error is not None:
                        on_error(record["path"], from_wire(None, record["error"], record.get("hint")))
                if progress:
                    progress.advance(record["path"], record["ok"])
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if progress:
            progress.stop()
    return BatchSummary(total=len(inputs), done=done, failed=failed, skipped=skipped, failed_before=failed_before,
                        interrupted=interrupted, elapsed_s=time.monotonic() - started, resumable=log is not None)


def _records(
    todo: list[str], job: TaskJob, pipeline: PipelineSpec | Callable[[], PipelineSpec], options: RayOptions,
    note: Callable[[str], None] | None, verbose: bool,
) -> Iterator[dict[str, Any]]:
    """Each input's record once, as the pipeline hands them back (in the order they finish)."""
    if not todo:
        return
    import_ray()  # Ray missing: say so before anything else
    pipeline = pipeline() if callable(pipeline) else pipeline
    spec = pipeline.with_frames(task_frames(job.task, pipeline.frames))
    decoder = spec.decoder()  # reads and checks the checkpoint here, before Ray starts: a broken model fails at once
    with ray_cluster(options.address, verbose=verbose) as cluster:
        placement = place(options, cluster, pipeline.options.device)
        if note is not None:
            note(f"ray: {cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs; {placement.describe()}")
        spec = replace(spec, options=replace(spec.options, device=placement.device))
        seen: set[int] = set()
        rows = iter(build_dataset(todo, spec, job, decoder, placement).iter_rows())
        try:
            for row in rows:
                index = int(row["index"])
                if index in seen:  # a retried worker answered again: the first answer was written
                    continue
                seen.add(index)
                yield json.loads(row["record"])
        except (CrossLMMError, KeyboardInterrupt):
            raise
        except Exception as error:  # noqa: BLE001 - Ray's own failures, as one line
            raise _cluster_failure(error) from None
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()  # stops the pipeline's executor (Ctrl-C, an error, or a consumer that stopped)
    lost = [path for index, path in enumerate(todo) if index not in seen]
    if lost:
        raise ClusterError(f"the Ray pipeline returned no record for {len(lost)} input(s), first {lost[0]}",
                           hint="run the same command again: it does the missing ones")


def build_dataset(
    todo: Sequence[str], spec: PipelineSpec, job: TaskJob, decoder: FrameDecoder, placement: Placement, *,
    decode: Callable[..., dict[str, Any]] = decode_row, answer: type = AnswerVideos, per_block: int | None = None,
) -> Any:
    """The Ray Dataset of records: inputs -> decode tasks -> model actors (lazy: runs when iterated).

    A decode task decodes the inputs of its block in turn, a model worker answers them one by one
    (`per_block`: default `placement.inputs_per_block`). `decode` and `answer` are the stages
    (`crosslmm bench batch` swaps in empty ones to measure what the pipeline itself costs the driver)."""
    import ray.data

    items = [{"index": index, "path": path, "seen_by_driver": os.path.exists(path)} for index, path in enumerate(todo)]
    per_block = per_block or placement.inputs_per_block(len(items))
    dataset = ray.data.from_items(items, override_num_blocks=max(1, math.ceil(len(items) / per_block)))
    # Each decode task also asks for the memory it may hold (decoder buffers, the sampled frames), so a
    # node with many CPUs does not start more decodes than its memory holds. The request also keeps the
    # decoding its own stage of CPU tasks: Ray Data fuses a map whose resources equal the actors' into
    # the actors, which would decode each video there, in turn with the model (a test checks the plan).
    dataset = dataset.map(decode, fn_kwargs={"decoder": decoder}, num_cpus=placement.decode_cpus,
                          memory=DECODE_MEMORY)
    return dataset.map_batches(
        answer,
        fn_constructor_kwargs={"spec": spec, "job": job, "decoder": decoder, "exit_once": os.environ.get(EXIT_ONCE_ENV)},
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=placement.workers, max_tasks_in_flight_per_actor=TASKS_PER_ACTOR),
        num_cpus=placement.worker_cpus,
        num_gpus=placement.worker_gpus,
    )


def _cluster_failure(error: BaseException) -> CrossLMMError:
    """The typed error a worker raised (a model that cannot load: a ModelLoadError) as its one line, else
    Ray's own failure as one line. An actor that failed in `__init__` reaches the driver as Ray's
    ActorDiedError, which keeps the worker's traceback only as text: its last line names our error."""
    seen: BaseException | None = error
    for _ in range(8):  # RayTaskError.cause, raise ... from ...: a short chain
        if seen is None:
            break
        if isinstance(seen, CrossLMMError):
            return seen
        seen = getattr(seen, "cause", None) or seen.__cause__
    named = _OUR_ERROR_LINE.findall(str(error))
    if named:
        module, name, message = named[-1]
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            cls = None
        if isinstance(cls, type) and issubclass(cls, CrossLMMError):
            return from_wire(wire_code(cls.__new__(cls)), message.strip())
    return ClusterError(f"the Ray pipeline failed: {type(error).__name__}: {first_line(error)}")
