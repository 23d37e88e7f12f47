"""Talking to a running `crosslmm serve` over HTTP, with the standard library only.

The CLI's client mode must start in a fraction of a second, so this imports no torch, numpy or
HTTP library: `http.client`, JSON, and a small reader for the two streamed forms the server
writes (Server-Sent Events, JSON Lines). The server's JSON errors come back as the typed errors
they name (`errors.from_wire`), so a command fails with the same line and exit code as it would
without the server; a busy server (503) is asked again after its Retry-After, a few times.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from crosslmm_cli.errors import CrossLMMError, ServerUnavailableError, UsageError, from_wire

BUSY_RETRIES = 30  # 503s in a row before giving up (each waits its Retry-After, 1 s by default)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost`; any other name or address counts as reachable from elsewhere."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServerConnection:
    """One server, by URL (`http://127.0.0.1:8765`); `api_key` is sent as a Bearer token."""

    def __init__(self, url: str, *, api_key: str | None = None, timeout: float = 3600.0) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"--server {url}: not an http:// URL", hint="e.g. --server http://127.0.0.1:8765")
        self.url = url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.https = parts.scheme == "https"
        self.prefix = parts.path.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    @property
    def is_local(self) -> bool:
        """The server runs on this machine, so it can read this machine's files by path."""
        return is_loopback(self.host)

    def get(self, path: str) -> Any:
        """GET `path` as JSON."""
        with self._open("GET", path, None) as response:
            return json.loads(response.read())

    def post(self, path: str, body: dict[str, Any]) -> bytes:
        """POST `body`, the whole answer as bytes."""
        with self._open("POST", path, body) as response:
            return response.read()

    def events(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """POST `body` with `stream: true`: each Server-Sent Event's JSON, until `[DONE]`; an error event is raised."""
        with self._open("POST", path, {**body, "stream": True}) as response:
            try:
                for line in response:
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        return
                    event = json.loads(data)
                    if "error" in event and isinstance(event["error"], dict):
                        raise _typed(event["error"])
                    yield event
            except (OSError, http.client.HTTPException):
                pass  # the connection broke: as below
        raise ServerUnavailableError(f"the crosslmm server at {self.url} ended the answer before its end",
                                     hint="it may have been stopped; run the command again")

    def _open(self, method: str, path: str, body: dict[str, Any] | None) -> _Response:
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Accept": "application/json, text/event-stream"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for _ in range(BUSY_RETRIES + 1):
            connection_class = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            connection = connection_class(self.host, self.port, timeout=self.timeout)
            try:
                connection.request(method, self.prefix + path, body=payload, headers=headers)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                raise ServerUnavailableError(
                    f"cannot reach the crosslmm server at {self.url}: {reason}",
                    hint="start one with `crosslmm serve`, or unset CROSSLMM_SERVER to run the model here",
                ) from None
            if response.status == 503:
                wait = response.getheader("Retry-After", "1")
                response.read()
                connection.close()
                time.sleep(float(wait) if wait.replace(".", "", 1).isdigit() else 1.0)
                continue
            if response.status >= 400:
                try:
                    error = _typed(json.loads(response.read()).get("error") or {}, status=response.status)
                except ValueError:
                    error = CrossLMMError(f"the server at {self.url} answered HTTP {response.status}")
                connection.close()
                raise error
            return _Response(connection, response)
        raise ServerUnavailableError(f"the crosslmm server at {self.url} stayed busy",
                                     hint="try again later, or start it with a larger --max-queue")


class _Response:
    """An open response: iterate its lines or read it; closes its connection on exit."""

    def __init__(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        self.connection = connection
        self.response = response

    def read(self) -> bytes:
        try:
            return self.response.read()
        except (OSError, http.client.HTTPException):
            raise ServerUnavailableError("the crosslmm server ended its answer before its end",
                                         hint="it may have been stopped; run the command again") from None

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.response)

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()


def _typed(error: dict[str, Any], *, status: int | None = None) -> CrossLMMError:
    message = str(error.get("message") or f"the server answered HTTP {status}")
    if status == 401:
        return UsageError(message, hint=error.get("hint"))
    return from_wire(error.get("code"), message, error.get("hint"))
