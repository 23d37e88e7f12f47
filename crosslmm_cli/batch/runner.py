"""The batch engine behind `describe`, `ask`, `chapterize` and `batch` on many inputs.

Work per input is split in two: `prepare` (decode frames, read subtitles: I/O and CPU, no model)
runs in a prefetch thread one input ahead, while `process` (the model) runs in the caller's
thread, so decoding the next video overlaps the model work on this one. Every input ends as one
record, appended whole to the results log; inputs that already succeeded there are skipped, so an
interrupted run resumes where it stopped. Ctrl-C stops cleanly: the record in progress is
dropped, the log is closed, and the summary says `interrupted` (exit code 130).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from crosslmm_cli.batch.results import ResultsLog, record_key, task_record
from crosslmm_cli.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    as_crosslmm_error,
    is_out_of_memory,
)

Prepared = TypeVar("Prepared")


class BatchProgress(Protocol):
    """What the engine reports as it goes (the CLI shows a rich progress bar on a terminal)."""

    def start(self, total: int, skipped: int) -> None: ...

    def advance(self, path: str, ok: bool) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class BatchSummary:
    total: int  # inputs named
    done: int  # succeeded in this run
    failed: int  # failed in this run
    skipped: int  # already ok in the results log
    failed_before: int  # failed in an earlier run and not retried (see --retry-failed)
    interrupted: bool
    elapsed_s: float
    resumable: bool = False  # the records went to a results log, which a rerun resumes from

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.failed or self.failed_before else EXIT_OK

    def describe(self) -> str:
        parts = [f"{self.done} done", f"{self.skipped} skipped", f"{self.failed} failed"]
        if self.failed_before:
            parts.append(f"{self.failed_before} failed earlier (--retry-failed retries them)")
        text = ", ".join(parts) + f" in {self.elapsed_s:.1f} s"
        if not self.interrupted:
            return text
        if self.resumable:
            return f"interrupted: {text}; run the same command again to resume"
        # Records that went only to stdout leave nothing to resume from: a rerun starts over.
        return (f"interrupted: {text}; a rerun starts over (`crosslmm batch ... --output FILE` "
                "keeps the results in FILE and resumes where it stopped)")


@dataclass
class _Item(Generic[Prepared]):
    path: str
    prepared: Prepared | None
    error: BaseException | None
    seconds: float


def run_batch(
    inputs: Sequence[str],
    *,
    task: str,
    prepare: Callable[[str], Prepared],
    process: Callable[[str, Prepared], dict[str, Any]],
    question: str | None = None,
    log: ResultsLog | None = None,
    emit: Callable[[dict[str, Any]], None] | None = None,
    on_error: Callable[[str, BaseException], None] | None = None,
    reduce: Callable[[Prepared], Prepared | None] | None = None,
    retry_failed: bool = False,
    progress: BatchProgress | None = None,
    prefetch: int = 1,
) -> BatchSummary:
    """Run `process(prepare(path))` for each input not yet done; returns counts, never raises for one input.

    `reduce` makes a smaller version of a prepared input (fewer frames); when `process` runs out
    of accelerator memory, it is retried once on that. Records go to `log` (if any) and `emit`.
    """
    started = time.monotonic()
    todo, skipped, failed_before = plan_batch(inputs, task=task, question=question, log=log, retry_failed=retry_failed)
    done = failed = 0
    interrupted = False
    if progress:
        progress.start(len(todo), skipped + failed_before)
    prefetcher = None
    try:
        prefetcher = _Prefetcher(todo, prepare, depth=max(1, prefetch))
        for item in prefetcher:
            record, error = run_one(item.path, item.prepared, task=task, question=question, process=process,
                                    reduce=reduce, error=item.error, seconds=item.seconds)
            if log is not None:
                log.append(record)
            if emit is not None:
                emit(record)
            if error is None:
                done += 1
            else:
                failed += 1
                if on_error is not None:
                    on_error(item.path, error)
            if progress:
                progress.advance(item.path, record["ok"])
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if prefetcher is not None:
            prefetcher.close()
        if progress:
            progress.stop()
    return BatchSummary(
        total=len(inputs),
        done=done,
        failed=failed,
        skipped=skipped,
        failed_before=failed_before,
        interrupted=interrupted,
        elapsed_s=time.monotonic() - started,
        resumable=log is not None,
    )


def plan_batch(
    inputs: Sequence[str], *, task: str, question: str | None = None, log: ResultsLog | None = None,
    retry_failed: bool = False,
) -> tuple[list[str], int, int]:
    """(inputs still to do, number already ok, number that failed before and are not retried)."""
    if log is None:
        return list(inputs), 0, 0
    todo, skipped, failed_before = [], 0, 0
    for path in inputs:
        status = log.status(record_key({"path": path, "task": task, "question": question}))
        if status is True:
            skipped += 1
        elif status is False and not retry_failed:
            failed_before += 1
        else:
            todo.append(path)
    return todo, skipped, failed_before


def run_one(
    path: str,
    prepared: Prepared | None,
    *,
    task: str,
    process: Callable[[str, Prepared], dict[str, Any]],
    question: str | None = None,
    reduce: Callable[[Prepared], Prepared | None] | None = None,
    error: BaseException | None = None,
    seconds: float = 0.0,
) -> tuple[dict[str, Any], BaseException | None]:
    """The record for one input, and the exception if it failed: the per-input work every engine
    shares (this runner, and the model actors of `--engine ray`).

    `error`: `prepare` failed (the record says why); `seconds`: what `prepare` took, counted in
    `elapsed_s`; `reduce`: a smaller input to retry once on after running out of memory."""
    started = time.monotonic()
    if error is not None:
        return task_record(path, task, _failure(error), seconds, question=question, ok=False), error
    try:
        try:
            fields = process(path, prepared)
        except Exception as exc:
            smaller = reduce(prepared) if (reduce is not None and is_out_of_memory(exc)) else None
            if smaller is None:
                raise
            fields = {**process(path, smaller), "retried_after_oom": True}
    except Exception as exc:
        elapsed = seconds + time.monotonic() - started
        return task_record(path, task, _failure(exc), elapsed, question=question, ok=False), exc
    elapsed = seconds + time.monotonic() - started
    return task_record(path, task, fields, elapsed, question=question), None


def _failure(exc: BaseException) -> dict[str, Any]:
    err = as_crosslmm_error(exc)
    fields: dict[str, Any] = {"error": err.message}
    if err.hint:
        fields["hint"] = err.hint
    return fields


_DONE = object()


class _Prefetcher(Generic[Prepared]):
    """Runs `prepare` on the inputs in a background thread, at most `depth` results ahead."""

    def __init__(self, paths: Sequence[str], prepare: Callable[[str], Prepared], depth: int) -> None:
        self._paths = paths
        self._prepare = prepare
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crosslmm-prefetch", daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[_Item[Prepared]]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            yield item

    def close(self) -> None:
        """Stop the producer; a decode in progress finishes (or dies with the process)."""
        self._stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        try:
            for path in self._paths:
                if self._stop.is_set():
                    return
                started = time.monotonic()
                try:
                    item = _Item(path, self._prepare(path), None, time.monotonic() - started)
                except BaseException as exc:  # noqa: BLE001 - becomes this input's failed record
                    item = _Item(path, None, exc, time.monotonic() - started)
                if not self._put(item):
                    return
        finally:
            self._put(_DONE)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False
