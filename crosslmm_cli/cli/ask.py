"""`crosslmm ask VIDEO QUESTION` and `crosslmm chat VIDEO`: questions about one video, encoded once."""

import json
import sys
import time
from collections.abc import Callable
from typing import Annotated, Optional

import typer

from crosslmm_cli.cli.common import Session, with_run_options
from crosslmm_cli.cli.remote import ServerOption
from crosslmm_cli.engine.options import RunOptions
from crosslmm_cli.errors import EXIT_INTERRUPTED, UsageError


def register(app: typer.Typer) -> None:
    app.command("ask", no_args_is_help=True)(ask)
    app.command("chat", no_args_is_help=True)(chat)


@with_run_options
def ask(
    video: Annotated[str, typer.Argument(metavar="VIDEO", help="The video file.", show_default=False)],
    question: Annotated[Optional[str], typer.Argument(metavar="QUESTION", help="What to ask about it.", show_default=False)] = None,
    more: Annotated[Optional[list[str]], typer.Option("--question", "-q", metavar="QUESTION",
                    help="Another question (repeatable); the video is encoded once for all.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per question instead of text.")] = False,
    server: ServerOption = None,
    *,
    run: RunOptions,
) -> None:
    """Answer questions about a video, streaming each answer to stdout as it is generated."""
    questions = ([question] if question else []) + list(more or [])
    if not questions:
        raise UsageError("no question given", hint='crosslmm ask VIDEO "what happens at the end?"')
    session = Session.start(run)
    if server:
        from crosslmm_cli.cli import remote

        remote.ask(session, server, video, questions, as_json)
        return
    from crosslmm_cli.batch import task_record
    from crosslmm_cli.cli.terminal import AnswerRenderer, write_line
    from crosslmm_cli.tasks import Hooks, generate_text, video_fields

    pipeline, prepared, encoded = session.open_video(video)
    shared = video_fields(pipeline, prepared, encoded)
    for q in questions:
        started = time.perf_counter()
        hooks = Hooks(on_stats=lambda stats: session.detail(stats.describe()))
        if as_json:
            text = generate_text(pipeline, prepared, encoded, q, run.generation, hooks)
            record = task_record(video, "ask", {"text": text, **shared}, time.perf_counter() - started, question=q)
            write_line(json.dumps(record, ensure_ascii=False))
            continue
        if len(questions) > 1:
            session.note(f"» {q}")
        renderer = AnswerRenderer()
        renderer.begin()
        try:
            generate_text(pipeline, prepared, encoded, q, run.generation,
                          Hooks(on_text=renderer.write, on_stats=hooks.on_stats))
        finally:
            renderer.end()


@with_run_options
def chat(
    video: Annotated[str, typer.Argument(metavar="VIDEO", help="The video file.", show_default=False)],
    server: ServerOption = None,
    *,
    run: RunOptions,
) -> None:
    """Ask question after question about a video (encoded once). /reset forgets the conversation, /exit or Ctrl-D ends."""
    from crosslmm_cli.cli.terminal import AnswerRenderer

    session = Session.start(run)
    if server:
        from crosslmm_cli.cli import remote

        info, reply = remote.chat_turns(session, server, video)
        duration, frames = info["duration"], info["frames"]
    else:
        duration, frames, reply = _local_chat(session, video)
    interactive = sys.stdin.isatty()
    if interactive:
        session.note(f"{video}: {duration:.0f} s, {frames} frames. Ask away (/exit to leave).")
    history: list[tuple[str, str]] = []
    while True:
        try:
            line = session.err.input("[bold]> [/]") if interactive else sys.stdin.readline()
        except EOFError:
            break
        except KeyboardInterrupt:
            raise typer.Exit(EXIT_INTERRUPTED) from None
        if not interactive and not line:
            break  # end of piped input
        question = line.strip()
        if not question:
            continue
        if question in ("/exit", "/quit"):
            break
        if question == "/reset":
            history.clear()
            session.note("(conversation forgotten; the video stays encoded)")
            continue
        renderer = AnswerRenderer()
        renderer.begin()
        try:
            answer = reply(question, history, renderer.write)
        except KeyboardInterrupt:
            renderer.end()
            if not interactive:
                raise
            session.note("(stopped)")
            continue
        renderer.end()
        history.append((question, answer))


def _local_chat(session: Session, video: str) -> tuple[float, int, Callable[..., str]]:
    """The video encoded here, and a function answering one question with the conversation so far."""
    from crosslmm_cli.tasks import Hooks, generate_text

    pipeline, prepared, encoded = session.open_video(video)

    def reply(question: str, history: list[tuple[str, str]], on_text: Callable[[str], None]) -> str:
        hooks = Hooks(on_text=on_text, on_stats=lambda s: session.detail(s.describe()))
        return generate_text(pipeline, prepared, encoded, question, session.run.generation, hooks, history=history)

    return encoded.duration, encoded.num_frames, reply
