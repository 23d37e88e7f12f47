"""Client mode: `ask`, `chat`, `describe` and `chapterize` answered by a running `crosslmm serve`.

With `--server URL` (or $CROSSLMM_SERVER) a command sends its video and flags to the server and
prints what comes back exactly as it prints its own answers: the same text, `--json` and `--jsonl`
records, the same error lines and exit codes. Videos go by path (`file://`) to a server on this
machine and are uploaded (`data:` URL) to one elsewhere. The server's model answers: --model only
checks that it is the one served; --quantize, --device and --threads are the server's own.

Nothing here imports torch, transformers or numpy: a question through a warm server costs the
Python start and one HTTP round trip, not the seconds those imports take.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional
from urllib.parse import quote

import typer

from crosslmm_cli.cli.common import MODEL

if TYPE_CHECKING:
    from crosslmm_cli.batch import BatchProgress, BatchSummary, ResultsLog
    from crosslmm_cli.cli.common import Session
    from crosslmm_cli.client import ServerConnection
    from crosslmm_cli.engine.options import RunOptions

ServerOption = Annotated[Optional[str], typer.Option(
    "--server", envvar="CROSSLMM_SERVER", metavar="URL", rich_help_panel=MODEL, show_envvar=True,
    help="Ask a running `crosslmm serve` at URL instead of loading the model here.")]

RECORD_HEAD = ("path", "ok", "task", "question", "elapsed_s")  # what the batch runner adds to a task's fields


def connect(server: str) -> ServerConnection:
    """The server at `server`, with $CROSSLMM_API_KEY as its key."""
    from crosslmm_cli.client import ServerConnection

    return ServerConnection(server, api_key=os.environ.get("CROSSLMM_API_KEY") or None)


def video_url(connection: ServerConnection, path: str) -> str:
    """How the server gets the file: its path when it runs here, else the bytes as a data: URL."""
    if connection.is_local:
        return "file://" + quote(os.path.abspath(path))
    import base64
    import mimetypes

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        from crosslmm_cli.errors import for_input

        raise for_input(exc, path) from None
    mime = mimetypes.guess_type(path)[0] or "video/mp4"
    return f"data:{mime if mime.startswith(('video/', 'image/')) else 'video/mp4'};base64,{base64.b64encode(data).decode()}"


def request_fields(connection: ServerConnection, run: RunOptions) -> dict[str, Any]:
    """The run's flags as the server's request fields (unset flags left out: the server's defaults are the CLI's)."""
    frames, generation = run.frames, run.generation
    fields: dict[str, Any] = {
        "model": run.model.ref, "frames": frames.num_frames, "fps": frames.fps, "max_frames": frames.max_frames,
        "start": frames.start, "end": frames.end, "backend": frames.backend, "tokens_per_frame": run.model.tokens_per_frame,
        "cache": run.use_cache, "max_tokens": generation.max_new_tokens, "temperature": generation.temperature,
        "top_p": generation.top_p, "seed": generation.seed,
        "subtitles": run.subtitles if run.subtitles in ("auto", "off") else video_url(connection, run.subtitles),
    }
    return {name: value for name, value in fields.items() if value is not None}


def task_request(connection: ServerConnection, run: RunOptions, path: str, **extra: Any) -> dict[str, Any]:
    return {**request_fields(connection, run), "video": video_url(connection, path), "name": path, **extra}


def ask(session: Session, server: str, video: str, questions: Sequence[str], as_json: bool) -> None:
    """`crosslmm ask` through the server: answers streamed, or one JSON object per question."""
    from crosslmm_cli.cli.terminal import AnswerRenderer, write_line

    connection = connect(server)
    body = task_request(connection, session.run, video, questions=list(questions))
    renderer: AnswerRenderer | None = None
    begun = -1  # the question whose answer is being rendered

    def begin(index: int) -> AnswerRenderer:
        nonlocal renderer, begun
        if renderer is None or begun != index:
            begun = index
            if len(questions) > 1:
                session.note(f"» {questions[index]}")
            renderer = AnswerRenderer()
            renderer.begin()
        return renderer

    answered = 0
    for event in connection.events("/v1/ask", body):
        if event["type"] == "text" and not as_json:
            begin(event["index"]).write(event["text"])
        elif event["type"] == "record":
            record = event["record"]
            warn_partial(session, record)
            if as_json:
                write_line(json.dumps(record, ensure_ascii=False))
            else:
                begin(answered).end()
                renderer = None
            answered += 1


def chat_turns(session: Session, server: str, video: str) -> tuple[dict[str, Any], Callable[..., str]]:
    """For `crosslmm chat`: what the server sampled (it encodes the video now), and a function that answers
    one question with the conversation so far, streaming its text to `on_text`."""
    connection = connect(server)
    url = video_url(connection, video)
    info = json.loads(connection.post("/v1/encode", {**request_fields(connection, session.run), "video": url, "name": video}))
    warn_partial(session, info)
    fields = request_fields(connection, session.run)

    def answer(question: str, history: Sequence[tuple[str, str]], on_text: Callable[[str], None]) -> str:
        messages: list[dict[str, Any]] = []
        for asked, answered in [*history, (question, None)]:
            messages.append({"role": "user", "content": [{"type": "text", "text": asked}]})
            if answered is not None:
                messages.append({"role": "assistant", "content": answered})
        messages[0]["content"].insert(0, {"type": "video_url", "video_url": {"url": url}})
        text = ""
        for event in connection.events("/v1/chat/completions", {**fields, "messages": messages}):
            for choice in event.get("choices", []):
                piece = choice.get("delta", {}).get("content")
                if piece:
                    text += piece
                    on_text(piece)
        return text.strip()

    return info, answer


def chapters_text(session: Session, server: str, video: str, fmt: str, chapter_options: Any) -> str:
    """`crosslmm chapterize` through the server: the chapters in `fmt`, as the CLI prints them."""
    connection = connect(server)
    body = task_request(connection, session.run, video, format=fmt, min_length=chapter_options.min_length,
                        max_length=chapter_options.max_length, max_chapters=chapter_options.max_chapters)
    return connection.post("/v1/chapterize", body).decode("utf-8")


def run_task_over_server(
    connection: ServerConnection, session: Session, inputs: Sequence[str], *, task: str, prompt: str,
    log: ResultsLog | None = None, emit: Callable[[dict[str, Any]], None] | None = None, retry_failed: bool = False,
    progress: BatchProgress | None = None, hooks: Any = None, **_local: Any,
) -> BatchSummary:
    """`tasks.run_task_over_videos` with the server doing the model work: the same batch runner, records and
    summary; takes (and ignores) that function's model arguments, so callers can pass either."""
    from crosslmm_cli.batch import run_batch

    def process(path: str, _: None) -> dict[str, Any]:
        extra = {"questions": [prompt]} if task == "ask" else {"prompt": prompt} if task == "describe" else {}
        body = task_request(connection, session.run, path, **extra)
        stream = hooks.stream(path) if hooks is not None and hooks.stream is not None else contextlib.nullcontext(None)
        record: dict[str, Any] = {}
        with stream as on_text:
            for event in connection.events(f"/v1/{task}", body):
                if event["type"] == "text" and on_text is not None:
                    on_text(event["text"])
                elif event["type"] == "record":
                    record = event["record"]
        warn_partial(session, record)
        return {name: value for name, value in record.items() if name not in RECORD_HEAD}

    return run_batch(inputs, task=task, question=prompt if task == "ask" else None, prepare=lambda path: None,
                     process=process, log=log, emit=emit, on_error=hooks.on_error if hooks is not None else None,
                     retry_failed=retry_failed, progress=progress)


def warn_partial(session: Session, record: dict[str, Any]) -> None:
    """The local engine's warning for a truncated file, from a record made elsewhere (a server, a Ray worker)."""
    if record.get("partial"):
        session.note(f"warning: {record['path']} is truncated; only its readable part was used")
