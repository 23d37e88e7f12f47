"""Running the app: the bind checks, the socket, uvicorn in the foreground, a clean stop on Ctrl-C/SIGTERM.

The server listens on loopback unless told otherwise, and refuses any other address without an API
key: a model server on a LAN with no key would let anyone there read files under --allow-path. The
socket is bound before uvicorn starts, so `--port 0` gets a free port and the line to export names
it. On SIGINT or SIGTERM uvicorn stops accepting, lets requests in flight finish for up to
`graceful_s` seconds, then cancels the rest (their answers stop at the next token); the scheduler
and the upload directory go with the app's lifespan.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from crosslmm_cli.client.connection import is_loopback
from crosslmm_cli.errors import UsageError


def check_bind(host: str, api_key: str | None) -> None:
    """A UsageError unless `host` is loopback or an API key is set."""
    if not is_loopback(host) and not api_key:
        raise UsageError(
            f"refusing to listen on {host} without an API key: anyone who can reach it could use the model "
            "and read the videos under --allow-path",
            hint="set --api-key or $CROSSLMM_API_KEY, or keep the default --host 127.0.0.1",
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 picks a free one. Errors are UsageErrors naming the address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                         hint="pick another --port, or --port 0 for any free one") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def make_server(app: Any, sock: socket.socket, *, graceful_s: float = 10.0) -> Any:
    """A uvicorn.Server for `app` on `sock` (its own access log off: the app logs one line a request)."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=graceful_s,
                            lifespan="on", http="h11")
    return uvicorn.Server(config)


def serve(app: Any, sock: socket.socket, *, on_ready: Callable[[], None] | None = None, graceful_s: float = 10.0) -> None:
    """Serve until SIGINT/SIGTERM, in the foreground, and return once stopped cleanly; `on_ready` runs once
    the server accepts connections."""
    import asyncio
    import signal

    server = make_server(app, sock, graceful_s=graceful_s)

    async def main() -> None:
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started and on_ready is not None:
            on_ready()
        await task

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # uvicorn handles both signals while it runs, then raises the one it caught again: end quietly on either.
    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
