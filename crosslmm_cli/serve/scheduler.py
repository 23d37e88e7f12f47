"""The one thread that runs the model: requests queue their model work here, greedy answers in batches.

One accelerator, one model: encoding and generation for every request happen in this thread, in
arrival order, so requests never race on the model. Requests themselves (reading, decoding, building
prompts, writing responses) run in their own threads and wait here only for the model.

Admission is bounded: at most `max_queue` requests are held at once (waiting or being served);
one more is turned away at once (`Busy`, a 503 with Retry-After) instead of waiting without end.

Batching: when a greedy answer reaches the front, other greedy answers waiting with the same
`batched.batch_key` join it, up to `max_batch`, and run as one `generate()` call
(`engine.batched.answer_rows`). When requests have recently come several at a time, the thread
waits up to `window_s` for the ones still being prepared, so that clients that send again as soon
as they are answered keep meeting in one batch; a lone client never waits. A batch of one, and
every sampled answer, goes through `Engine.answer`, the CLI's own path.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crosslmm_cli.engine import EncodedVideo, Engine, GenerationOptions, GenerationStats

END = object()  # the last item of an answer's chunk queue
RECENT_S = 2.0  # how long a burst of concurrent requests counts as "recent"


class Busy(Exception):
    """The queue is full; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the server is busy; retry after {retry_after} s")
        self.retry_after = retry_after


class ShuttingDown(Exception):
    """The server stopped before this work ran."""


@dataclass
class AnswerJob:
    """One answer to generate: the engine (view) and what `Engine.answer` takes; chunks come out of `chunks`."""

    engine: Engine
    encoded: EncodedVideo
    question: str
    options: GenerationOptions
    history: Sequence[tuple[str, str]] = ()
    subtitles: Sequence[tuple[float, float, str]] | None = None
    system: str | None = None
    cancelled: Callable[[], bool] = lambda: False
    chunks: queue.Queue = field(default_factory=queue.Queue)  # str chunks, then END
    stats: GenerationStats | None = None
    error: BaseException | None = None
    batch_size: int = 0  # how many answers shared its generate() call

    @property
    def key(self) -> Any:
        from crosslmm_cli.engine.batched import batch_key

        return batch_key(self.engine, self.encoded, self.options)


@dataclass
class _CallJob:
    fn: Callable[[], Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class Scheduler:
    def __init__(self, *, max_batch: int = 8, max_queue: int = 64, window_s: float = 0.02) -> None:
        self.max_batch = max(1, max_batch)
        self.max_queue = max(1, max_queue)
        self.window_s = window_s
        self._jobs: deque[AnswerJob | _CallJob] = deque()
        self._cond = threading.Condition()
        self._admitted = 0
        self._peak_at: dict[int, float] = {}  # admitted count -> when it was last reached
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.batches: Counter[int] = Counter()  # answers per generate() call -> how many calls (benchmark, tests)

    # ---- admission -----------------------------------------------------------------------------

    def admit(self) -> None:
        """Take one of `max_queue` places for a request's whole life (`release` gives it back); Busy when none is free."""
        with self._cond:
            if self._stopping:
                raise ShuttingDown("the server is shutting down")
            if self._admitted >= self.max_queue:
                raise Busy(retry_after=1)
            self._admitted += 1
            self._peak_at[self._admitted] = time.monotonic()

    def release(self) -> None:
        with self._cond:
            self._admitted -= 1
            self._cond.notify_all()

    @property
    def load(self) -> int:
        """Requests held now (waiting or being served)."""
        return self._admitted

    # ---- work ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="crosslmm-model", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Refuse new work, fail what waits, stop what runs at its next token, and join the thread."""
        with self._cond:
            self._stopping = True
            waiting = list(self._jobs)
            self._jobs.clear()
            self._cond.notify_all()
        for job in waiting:
            _fail(job, ShuttingDown("the server is shutting down"))
        if self._thread is not None:
            self._thread.join(timeout=30)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn()` in the model thread (encoding, ...) and return its result; its exception is raised here."""
        job = _CallJob(fn)
        self._put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def submit(self, job: AnswerJob) -> None:
        """Queue an answer; its text arrives in `job.chunks`, then END (and `job.error` if it failed)."""
        self._put(job)

    def _put(self, job: AnswerJob | _CallJob) -> None:
        with self._cond:
            if self._stopping:
                raise ShuttingDown("the server is shutting down")
            self._jobs.append(job)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._jobs.popleft()
            if isinstance(job, _CallJob):
                _call(job)
            else:
                self._answer(self._gather(job))

    def _gather(self, first: AnswerJob) -> list[AnswerJob]:
        """`first` and the compatible answers waiting (or about to arrive, after a recent burst)."""
        key = first.key
        batch = [first]
        if key is None or self.max_batch == 1:
            return batch
        deadline = time.monotonic() + self.window_s
        with self._cond:
            while True:
                for job in [j for j in self._jobs if isinstance(j, AnswerJob) and j.key == key]:
                    if len(batch) < self.max_batch:
                        self._jobs.remove(job)
                        batch.append(job)
                remaining = deadline - time.monotonic()
                if len(batch) >= self.max_batch or remaining <= 0 or len(batch) >= self._expected() or self._stopping:
                    return batch
                self._cond.wait(remaining)

    def _expected(self) -> int:
        """How many answers a batch can expect: requests held now, or as many as came together recently."""
        now = time.monotonic()
        recent = max((count for count, at in self._peak_at.items() if now - at < RECENT_S), default=1)
        return max(self._admitted, recent)

    def _answer(self, batch: list[AnswerJob]) -> None:
        for job in batch:
            job.batch_size = len(batch)
        live = []
        for job in batch:
            if job.cancelled() or self._stopping:
                job.chunks.put(END)
            else:
                live.append(job)
        if not live:
            return
        self.batches[len(live)] += 1
        try:
            if len(live) == 1:
                _answer_alone(live[0], lambda: self._stopping)
            else:
                _answer_together(live, lambda: self._stopping)
        except BaseException as exc:  # noqa: BLE001 - each request reports it
            for job in live:
                job.error = exc
        finally:
            for job in live:
                job.chunks.put(END)


def _call(job: _CallJob) -> None:
    try:
        job.result = job.fn()
    except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
        job.error = exc
    finally:
        job.done.set()


def _fail(job: AnswerJob | _CallJob, error: BaseException) -> None:
    if isinstance(job, _CallJob):
        job.error = error
        job.done.set()
    else:
        job.error = error
        job.chunks.put(END)


def _answer_alone(job: AnswerJob, stopping: Callable[[], bool]) -> None:
    """`Engine.answer`, exactly as the CLI runs it, forwarding its chunks; stops at the next token when cancelled."""
    with job.engine.answer(job.encoded, job.question, job.options, history=job.history, subtitles=job.subtitles,
                           system=job.system, cancelled=lambda: job.cancelled() or stopping()) as answer:
        for chunk in answer:
            job.chunks.put(chunk)
    job.stats = answer.stats


def _answer_together(jobs: list[AnswerJob], stopping: Callable[[], bool]) -> None:
    from crosslmm_cli.engine.batched import Row, answer_rows

    engine = jobs[0].engine
    rows = [
        Row(job.encoded,
            job.engine.prompt(job.encoded, job.question, history=job.history, subtitles=job.subtitles, system=job.system),
            job.options.max_new_tokens, job.chunks.put,
            cancelled=(lambda job=job: job.cancelled() or stopping()))
        for job in jobs
    ]
    answer_rows(engine, rows)
    for job, row in zip(jobs, rows):
        job.stats = row.stats
