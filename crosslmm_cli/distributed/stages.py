"""The two stages of `--engine ray`: decoding (CPU tasks) and the model (an actor pool).

`decode_row` is Ray Data's `map` function: it runs the `FrameDecoder` that `VideoPipeline.prepare`
decodes with locally, and ships the `PreparedVideo` (or why it failed) pickled, as one value: the
frames, timestamps, subtitles and flags travel together through the object store.
`AnswerVideos` is the callable class for `map_batches`: its `__init__` loads the model once per
actor, and each call runs the batch runner's `run_one` with the task runner, the very step the
local engine runs per video, so a record says the same whichever engine wrote it. Records go back
to the driver as JSON text; the driver alone writes the results file.

Plain callables that Ray Data runs: Ray is imported only to name a node in an error message.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crosslmm_cli.batch import run_one
from crosslmm_cli.engine.options import GenerationOptions
from crosslmm_cli.errors import ClusterError, CrossLMMError, InputError, as_crosslmm_error, from_wire, wire_code
from crosslmm_cli.tasks.chapters import ChapterOptions
from crosslmm_cli.tasks.many import fewer_frames, task_question
from crosslmm_cli.tasks.video_tasks import TaskRunner

if TYPE_CHECKING:
    import numpy as np

    from crosslmm_cli.engine.loading import PipelineSpec
    from crosslmm_cli.engine.pipeline import FrameDecoder, PreparedVideo

#: Fault injection for the tests: a model worker exits (as a crash would) after answering its second
#: video, before handing back the record, if this file does not exist yet; it creates it first, so
#: it happens once per run whatever the number of workers.
EXIT_ONCE_ENV = "CROSSLMM_RAY_EXIT_ONCE"
SHARED_FS_HINT = "with --engine ray every Ray node must read the inputs at the same path (a shared filesystem)"


@dataclass(frozen=True)
class TaskJob:
    """What to do with every video: the task, its prompt, decoding and chapter settings."""

    task: str
    prompt: str
    generation: GenerationOptions
    chapter_options: ChapterOptions = ChapterOptions()


@dataclass(frozen=True)
class Decoded:
    """A decode task's result for one input: the prepared video, or the error that stopped it."""

    prepared: PreparedVideo | None
    error: CrossLMMError | None
    seconds: float


def decode_row(row: dict[str, Any], *, decoder: FrameDecoder) -> dict[str, Any]:
    """Ray Data `map`: one input row (index, path, seen_by_driver) -> the row with its decoded video."""
    path = str(row["path"])
    started = time.monotonic()
    try:
        if row.get("seen_by_driver") and not os.path.exists(path):
            raise InputError(f"{path}: no such file", hint=f"{SHARED_FS_HINT}; Ray node {_node_address()} cannot see it")
        decoded = Decoded(decoder.decode(path), None, time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001 - becomes this input's failed record
        decoded = Decoded(None, portable_error(exc), time.monotonic() - started)
    return {"index": row["index"], "path": path, "decoded": pickle.dumps(decoded, protocol=pickle.HIGHEST_PROTOCOL)}


def portable_error(exc: BaseException) -> CrossLMMError:
    """`exc` as the typed error the record reports, rebuilt plainly so it pickles whatever raised it."""
    err = as_crosslmm_error(exc)
    return from_wire(wire_code(err), err.message, err.hint)


class AnswerVideos:
    """Ray Data `map_batches` callable class: the model, once per actor; one record per video."""

    def __init__(self, spec: PipelineSpec, job: TaskJob, decoder: FrameDecoder, exit_once: str | None = None) -> None:
        self.pipeline = spec.load()
        if self.pipeline.decoder() != decoder:  # the decode tasks read the checkpoint's files, the actor its model
            raise ClusterError(f"the decode tasks sample {decoder.sampling} but the model expects "
                               f"{self.pipeline.decoder().sampling}")
        self.job = job
        self.runner = TaskRunner(self.pipeline, job.task, job.prompt, job.generation, job.chapter_options)
        self.exit_once = exit_once
        self.answered = 0

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        indices, paths, records = [], [], []
        for index, path, blob in zip(batch["index"], batch["path"], batch["decoded"]):
            record = self.answer(str(path), pickle.loads(blob))
            self.answered += 1
            self._maybe_exit()
            indices.append(int(index))
            paths.append(str(path))
            records.append(json.dumps(record, ensure_ascii=False, allow_nan=False))
        return {"index": indices, "path": paths, "record": records}

    def answer(self, path: str, decoded: Decoded) -> dict[str, Any]:
        """One input's record, as the local engine's batch runner makes it."""
        prepared = decoded.prepared
        if prepared is not None:
            prepared = self.pipeline.cached(prepared)  # the feature cache, keyed by this actor's model
        record, _ = run_one(
            path, prepared, task=self.job.task, question=task_question(self.job.task, self.job.prompt),
            process=self.runner, reduce=lambda video: fewer_frames(self.pipeline, video),
            error=decoded.error, seconds=decoded.seconds,
        )
        return record

    def _maybe_exit(self) -> None:
        if not self.exit_once or self.answered != 2:
            return
        try:
            os.close(os.open(self.exit_once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return
        os._exit(1)  # noqa: SLF001 - a crash, not a clean exit: Ray must restart the actor and redo the batch


def _node_address() -> str:
    try:
        import ray

        return str(ray.util.get_node_ip_address())
    except Exception:  # noqa: BLE001 - only for the message
        return "?"
