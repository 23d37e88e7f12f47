"""A task over many videos: the batch runner (`crosslmm_cli.batch`) driving the task runner.

`run_task_over_videos` is what `describe`, `batch` (and any other caller) use, for one video or
ten thousand: inputs already done in the results log are skipped; the model is loaded only if
some input is left and one of them is a video (`check_inputs`, before anything loads); the next
video is decoded while the model works on this one; an input that runs out of accelerator memory
is retried once with half its frames. Where text and notes go is
the caller's choice (`ManyVideosHooks`): the CLI streams to the terminal or writes JSON Lines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crosslmm_cli.batch import BatchProgress, BatchSummary, ResultsLog, plan_batch, run_batch
from crosslmm_cli.tasks.chapters import ChapterOptions
from crosslmm_cli.tasks.video_tasks import TaskRunner, chapter_frames
from crosslmm_cli.video.paths import check_local_file

if TYPE_CHECKING:
    from crosslmm_cli.engine import FrameOptions, GenerationOptions, GenerationStats, PreparedVideo, VideoPipeline

TextSink = Callable[[str], None]


@dataclass(frozen=True)
class ManyVideosHooks:
    """What the caller hears about as inputs go by; every hook is optional."""

    on_video: Callable[[str, PreparedVideo], None] | None = None  # an input is ready, before the model runs
    stream: Callable[[str], AbstractContextManager[TextSink]] | None = None  # where one input's text streams
    on_stats: Callable[[GenerationStats], None] | None = None  # after each answer (--verbose)
    on_error: Callable[[str, BaseException], None] | None = None  # an input failed
    on_retry: Callable[[PreparedVideo, PreparedVideo], None] | None = None  # out of memory: fewer frames next


def run_task_over_videos(
    inputs: Sequence[str],
    *,
    task: str,
    prompt: str,
    frames: FrameOptions,
    generation: GenerationOptions,
    load_pipeline: Callable[[FrameOptions], VideoPipeline],
    chapter_options: ChapterOptions = ChapterOptions(),
    log: ResultsLog | None = None,
    emit: Callable[[dict[str, Any]], None] | None = None,
    retry_failed: bool = False,
    progress: BatchProgress | None = None,
    hooks: ManyVideosHooks = ManyVideosHooks(),
) -> BatchSummary:
    """Run `task` ("describe", "ask" with `prompt` as the question, "chapterize") on every input.

    `load_pipeline(frames)` loads the model and returns the video pipeline (called once, and only
    if some input is left to do). Records go to `log` (resumable) and to `emit`.
    """
    question = task_question(task, prompt)
    todo, _, _ = plan_batch(inputs, task=task, question=question, log=log, retry_failed=retry_failed)
    known_bad = check_inputs(todo)
    runner = None
    if len(known_bad) < len(todo):
        pipeline = load_pipeline(task_frames(task, frames))
        runner = TaskRunner(pipeline, task, prompt, generation, chapter_options, on_stats=hooks.on_stats)

    def prepare(path: str) -> PreparedVideo:
        if path in known_bad:
            raise known_bad[path]
        return runner.pipeline.prepare(path)

    def process(path: str, prepared: PreparedVideo) -> dict[str, Any]:
        if hooks.on_video is not None:
            hooks.on_video(path, prepared)
        with hooks.stream(path) if hooks.stream is not None else contextlib.nullcontext(None) as on_text:
            return runner(path, prepared, on_text=on_text)

    return run_batch(
        inputs,
        task=task,
        question=question,
        prepare=prepare,
        process=process,
        log=log,
        emit=emit,
        on_error=hooks.on_error,
        reduce=lambda prepared: fewer_frames(runner.pipeline, prepared, hooks.on_retry),
        retry_failed=retry_failed,
        progress=progress,
    )


def check_inputs(paths: Sequence[str]) -> dict[str, BaseException]:
    """The inputs that cannot be used, found before any model loads: path -> the error they fail with.

    Every path gets the checks that need no decoder (a URL, no such file, a directory, not
    readable, empty: a stat and a one-byte read each, so ten thousand cost nothing). The inputs
    are also probed (one `ffmpeg -i`) up to the first that is a video, so that the model loads
    only when there is something for it to do; the rest are probed as they are decoded.
    """
    from crosslmm_cli.video import probe

    bad: dict[str, BaseException] = {}
    found_a_video = False
    for path in paths:
        try:
            check_local_file(path)
            if not found_a_video:
                probe(path)
                found_a_video = True
        except Exception as exc:  # noqa: BLE001 - becomes this input's failed record
            bad[path] = exc
    return bad


def task_question(task: str, prompt: str) -> str | None:
    """What a record's `question` is: the prompt of an "ask", else none (a describe's instruction is not one)."""
    return prompt if task == "ask" else None


def task_frames(task: str, frames: FrameOptions) -> FrameOptions:
    """The sampling a task's pipeline is built with: chapters sample the whole video densely."""
    return chapter_frames(frames) if task == "chapterize" else frames


def fewer_frames(
    pipeline: VideoPipeline, prepared: PreparedVideo,
    on_retry: Callable[[PreparedVideo, PreparedVideo], None] | None = None,
) -> PreparedVideo | None:
    """After running out of memory: free what can be freed, and try again with half the frames
    (the batch runner's `reduce`, for the local engine and the Ray engine's actors alike)."""
    pipeline.engine.release_memory()
    smaller = prepared.reduced()
    if smaller is not None and on_retry is not None:
        on_retry(prepared, smaller)
    return smaller
