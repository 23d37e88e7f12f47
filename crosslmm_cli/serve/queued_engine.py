"""The engine as one request sees it: the warm `Engine`, with its model work queued on the scheduler.

The task functions the CLI calls (`tasks.describe_video`, `ask_video`, `chapterize_video`,
`generate_text`) and the `VideoPipeline` take an engine; the server hands them this one, so they run
unchanged in the request's thread while encoding and generation wait their turn in the model thread
(and answers meet other requests' answers in a batch). When the request's client goes away,
`cancelled` is set: the answer in progress stops at its next token and the task stops with
`RequestCancelled` instead of going on to its next answer.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from crosslmm_cli.serve.scheduler import END, AnswerJob, Scheduler

if TYPE_CHECKING:
    import numpy as np
    import torch

    from crosslmm_cli.engine import EncodedVideo, Engine, GenerationOptions, GenerationStats


COALESCE_S = 0.01  # how long a row of a batch lets its text gather before passing it on


class RequestCancelled(Exception):
    """The client went away; the request's remaining work is dropped."""


def _engine_attribute(name: str) -> property:
    return property(lambda self: getattr(self.engine, name), doc=f"The engine's `{name}`.")


class QueuedEngine:
    def __init__(self, engine: Engine, scheduler: Scheduler, cancelled: threading.Event) -> None:
        self.engine = engine
        self.scheduler = scheduler
        self.cancelled = cancelled

    # What records and the pipeline read of an engine: the warm engine's own.
    name = _engine_attribute("name")
    fingerprint = _engine_attribute("fingerprint")
    default_frames = _engine_attribute("default_frames")
    tokens_per_frame = _engine_attribute("tokens_per_frame")
    frame_size = _engine_attribute("frame_size")
    device = _engine_attribute("device")

    def visual_tokens(self, num_frames: int) -> int:
        return self.engine.visual_tokens(num_frames)

    def release_memory(self) -> None:
        self.scheduler.call(self.engine.release_memory)

    def from_features(self, features: torch.Tensor, timestamps: Sequence[float], duration: float,
                      segment: tuple[float, float] | None = None) -> EncodedVideo:
        return self.engine.from_features(features, timestamps, duration, segment)

    def frame_embeddings(self, encoded: EncodedVideo) -> np.ndarray:
        return self.engine.frame_embeddings(encoded)

    def encode(self, frames: np.ndarray, timestamps: Sequence[float], duration: float,
               segment: tuple[float, float] | None = None) -> EncodedVideo:
        """The vision encoder, in the model thread."""
        self._check()
        return self.scheduler.call(lambda: self.engine.encode(frames, timestamps, duration, segment))

    def answer(self, encoded: EncodedVideo, question: str, options: GenerationOptions, *,
               history: Sequence[tuple[str, str]] = (), subtitles: Sequence[tuple[float, float, str]] | None = None,
               system: str | None = None) -> QueuedAnswer:
        """Like `Engine.answer`: iterate for text chunks; `.text` and `.stats` once exhausted."""
        self._check()
        own = threading.Event()
        job = AnswerJob(self.engine, encoded, question, options, history=history, subtitles=subtitles, system=system,
                        cancelled=lambda: own.is_set() or self.cancelled.is_set())
        self.scheduler.submit(job)
        return QueuedAnswer(job, own, self.cancelled)

    def _check(self) -> None:
        if self.cancelled.is_set():
            raise RequestCancelled("the client went away")


class QueuedAnswer(Iterator[str]):
    """An answer being generated in the model thread, read chunk by chunk in the request's."""

    def __init__(self, job: AnswerJob, own: threading.Event, request_cancelled: threading.Event) -> None:
        self.job = job
        self.text = ""
        self._own = own
        self._request_cancelled = request_cancelled
        self._ended = False
        self._end_seen: object | None = None  # END, read while catching up

    @property
    def stats(self) -> GenerationStats | None:
        return self.job.stats

    def __next__(self) -> str:
        """The next text, and whatever more is already waiting (so a reader that falls behind catches up
        in one step instead of one per token)."""
        if self._ended:
            raise StopIteration
        item = self._end_seen or self.job.chunks.get()
        if item is END:
            self._ended = True
            if self.job.error is not None:
                raise self.job.error
            if self._request_cancelled.is_set():
                raise RequestCancelled("the client went away")
            raise StopIteration
        if self.job.batch_size > 1 and self.text:
            time.sleep(COALESCE_S)  # rows of a batch, after their first text: fewer, larger chunks leave the model thread more of the GIL
        while True:
            try:
                more = self.job.chunks.get_nowait()
            except queue.Empty:
                break
            if more is END:
                self._end_seen = END
                break
            item += more
        self.text += item
        return item

    def close(self) -> None:
        """Stop generating (at the next token) if it has not ended."""
        if not self._ended:
            self._own.set()

    def __enter__(self) -> QueuedAnswer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

