"""The tool's own tasks over HTTP: the records `--jsonl` writes, made by the functions the CLI calls.

POST /v1/describe, /v1/ask (several questions over one encoding) and /v1/chapterize answer with the
records `crosslmm describe --jsonl`, `crosslmm ask --json` and `crosslmm batch --task chapterize`
write, byte for byte (`batch.record_line`), one per line; /v1/chapterize with a `format` answers
with the chapters as `crosslmm chapterize --format` prints them. /v1/encode encodes a video ahead
of its questions and answers with what was sampled. Each runs in the request's thread through
`tasks` (`describe_video`, `ask_video`, `titled_chapters`) on the request's `QueuedEngine`.

A video that cannot be read is an HTTP error (422 ...), not an `"ok": false` record: the CLI's
client turns it back into that record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from crosslmm_cli.serve.http_errors import bad_request
from crosslmm_cli.serve.media import VideoSource
from crosslmm_cli.serve.protocol import TaskRequest
from crosslmm_cli.serve.serving import Serving

TASKS = ("describe", "ask", "chapterize", "encode")
Emit = Callable[[tuple[str, Any]], None]


def check_task_request(task: str, request: TaskRequest) -> None:
    """400 for what a task cannot do with this request (before any work)."""
    from crosslmm_cli.tasks.chapter_formats import FORMATS

    if task == "ask" and not request.questions:
        raise bad_request("questions: ask needs at least one question", "questions")
    if task != "ask" and request.questions:
        raise bad_request(f"questions: for /v1/ask, not /v1/{task}", "questions")
    if request.format is not None and (task != "chapterize" or request.format not in FORMATS):
        raise bad_request(f"format: one of {', '.join(FORMATS)}, for /v1/chapterize", "format")


def run_task(task: str, serving: Serving, request: TaskRequest, source: VideoSource, cancelled: threading.Event,
             emit: Emit) -> None:
    """In the request's thread: emits ("ready", None) once the video is encoded, ("text", (index, chunk)) as
    answers stream, and ("record", record) or ("chapters", text) as each result is whole."""
    from crosslmm_cli.batch import task_record
    from crosslmm_cli.tasks import DESCRIBE_PROMPT, Hooks, ask_video, describe_video, video_fields

    started = time.perf_counter()
    if task == "chapterize":
        _chapterize(serving, request, source, cancelled, emit, started)
        return
    generation = serving.generation_options(request)
    opened = serving.open_video(source, serving.frame_options(request), request, cancelled,
                                name_in_errors=task != "describe")
    emit(("ready", None))
    pipeline, prepared, encoded = opened.pipeline, opened.prepared, opened.encoded
    if task == "encode":
        emit(("record", {"path": source.name, **video_fields(pipeline, prepared, encoded)}))
    elif task == "describe":
        hooks = Hooks(on_text=lambda chunk: emit(("text", (0, chunk))))
        fields = describe_video(pipeline, prepared, generation, prompt=request.prompt or DESCRIBE_PROMPT, hooks=hooks,
                                encoded=encoded)
        emit(("record", task_record(source.name, "describe", fields, time.perf_counter() - started)))
    else:
        for index, question in enumerate(request.questions):
            asked = time.perf_counter()
            hooks = Hooks(on_text=lambda chunk, index=index: emit(("text", (index, chunk))))
            fields = ask_video(pipeline, prepared, question, generation, hooks=hooks, encoded=encoded)
            emit(("record", task_record(source.name, "ask", fields, time.perf_counter() - asked, question=question)))


def _chapterize(serving: Serving, request: TaskRequest, source: VideoSource, cancelled: threading.Event, emit: Emit,
                started: float) -> None:
    """As `crosslmm chapterize`: dense sampling, boundaries, YouTube's rules checked before titles, titles."""
    from crosslmm_cli.batch import task_record
    from crosslmm_cli.tasks import chapter_frames, titled_chapters, video_fields
    from crosslmm_cli.tasks.chapter_formats import chapters_as_dicts, check_youtube, format_chapters, youtube_options
    from crosslmm_cli.tasks.chapters import ChapterOptions

    options = ChapterOptions(min_length=request.min_length, max_length=request.max_length,
                             max_chapters=request.max_chapters)
    if request.format == "youtube":
        options = youtube_options(options)
    generation = serving.generation_options(request)
    opened = serving.open_video(source, chapter_frames(serving.frame_options(request)), request, cancelled)
    emit(("ready", None))
    encoded = opened.encoded

    def check(chapters: list) -> None:
        if request.format == "youtube":
            check_youtube(chapters, encoded.duration, source.name)

    chapters = titled_chapters(opened.pipeline, opened.prepared, encoded, options, generation, check=check)
    if request.format is not None:
        emit(("chapters", format_chapters(chapters, request.format, duration=encoded.duration, path=source.name)))
        return
    fields = {"chapters": chapters_as_dicts(chapters), **video_fields(opened.pipeline, opened.prepared, encoded)}
    emit(("record", task_record(source.name, "chapterize", fields, time.perf_counter() - started)))
