"""Helpers of the server tests: the real app under uvicorn on 127.0.0.1 (an ephemeral port) in a thread.

A uniquely named module (not conftest) so `from serve_fixtures import ...` cannot pick up another
directory's conftest.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "models" / "demo" / "examples"
CIRCLE = EXAMPLES / "circle.mp4"
SCENES = EXAMPLES / "three-scenes.mp4"


@dataclass
class RunningServer:
    url: str
    serving: object  # crosslmm_cli.serve.serving.Serving


def load_demo_engine():
    """The demo model as `crosslmm serve --model demo` loads it (the CLI's Session: preset frames, threads)."""
    from crosslmm_cli.cli.common import Session
    from crosslmm_cli.engine.options import ModelOptions, RunOptions

    return Session.start(RunOptions(model=ModelOptions(ref="demo", device="cpu"))).load_engine()


@contextlib.contextmanager
def running_server(engine, settings, *, disk_cache=None) -> Iterator[RunningServer]:
    """`crosslmm serve`'s app for `engine` under uvicorn in a background thread; stopped on exit."""
    import asyncio

    from crosslmm_cli.serve.app import create_app
    from crosslmm_cli.serve.server import bind, make_server, url_of
    from crosslmm_cli.serve.serving import Serving

    serving = Serving(engine, settings, disk_cache=disk_cache)
    sock = bind("127.0.0.1", 0)
    server = make_server(create_app(serving, log=lambda line: None), sock, graceful_s=5)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield RunningServer(url_of(sock), serving)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def chat_body(video: Path | str, question: str, **extra) -> dict:
    """A chat completion request about one local video."""
    url = str(video) if ":" in str(video).split("/")[0] else f"file://{Path(video).resolve()}"
    content = [{"type": "video_url", "video_url": {"url": url}}, {"type": "text", "text": question}]
    return {"model": "demo", "messages": [{"role": "user", "content": content}], **extra}
