"""A reusable decode worker process, killed and replaced on timeout, recycled to bound memory.

Why a process: a native decode that hangs cannot be interrupted inside a thread, and the CLI
process already has torch (and its thread pools) loaded, so forking it is unsafe; the worker is
a fresh interpreter started with fork+exec (`subprocess`), which is safe with threads.
Why reusable: starting one costs ~130 ms (Python + numpy + decord imports) on the 2-core
reference machine, which would dominate a batch of short clips; a request to a warm worker
costs a pipe round trip. It is recycled after `max_requests` files or when its resident memory
passes `max_rss_bytes`, so a long batch cannot grow memory without bound.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from crosslmm_cli.video import wire

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
START_TIMEOUT_S = 30.0


class WorkerUnavailable(RuntimeError):
    """The worker could not start (decord missing or broken)."""


class WorkerTimeout(TimeoutError):
    """The request ran past its deadline; the worker was killed."""


class WorkerCrashed(RuntimeError):
    """The worker died while working (a native crash); it will be restarted."""


class WorkerFailed(RuntimeError):
    """The worker answered with an error: `kind` is the exception's class name."""

    def __init__(self, kind: str, message: str, trace: str = "") -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.trace = trace


class DecodeWorker:
    def __init__(self, *, max_requests: int = 200, max_rss_bytes: int = 2 << 30, env: dict[str, str] | None = None) -> None:
        self.max_requests = max_requests
        self.max_rss_bytes = max_rss_bytes
        self._env = env
        self._process: subprocess.Popen | None = None
        self._served = 0
        self._lock = threading.Lock()
        self.starts = 0  # how many processes this worker has started (tests, benchmarks)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def request(self, header: dict, *, timeout_s: float) -> tuple[dict, dict[str, np.ndarray]]:
        """Send one request and wait at most `timeout_s` for the reply (start-up excluded)."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._start()
            assert self._process is not None and self._process.stdin is not None
            try:
                self._process.stdin.write(wire.encode(header))
                self._process.stdin.flush()
                reply, arrays = wire.read_message(self._process.stdout.fileno(), time.monotonic() + timeout_s)
            except wire.WireTimeout:
                self._kill()
                raise WorkerTimeout(f"no reply within {timeout_s:g} s") from None
            except (wire.WireClosed, BrokenPipeError, OSError) as exc:
                code = self._kill()
                raise WorkerCrashed(f"the decode worker died (exit status {code})") from exc
            self._served += 1
            if self._served >= self.max_requests or int(reply.get("rss", 0)) > self.max_rss_bytes:
                self._stop()
            if not reply.get("ok", False):
                raise WorkerFailed(str(reply.get("error")), str(reply.get("message", "")), str(reply.get("trace", "")))
            return reply, arrays

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _start(self) -> None:
        env = dict(os.environ if self._env is None else self._env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, env.get("PYTHONPATH")]))
        env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "crosslmm_cli.video._decord_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a kill of the worker never touches our process group
        )
        self._served = 0
        self.starts += 1
        try:
            hello, _ = wire.read_message(self._process.stdout.fileno(), time.monotonic() + START_TIMEOUT_S)
        except (wire.WireTimeout, wire.WireClosed) as exc:
            self._kill()
            raise WorkerUnavailable(f"the decode worker did not start ({exc})") from None
        if not hello.get("ready"):
            self._kill()
            raise WorkerUnavailable(str(hello.get("error", "the decode worker refused to start")))

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.stdin.close()  # the worker exits when its stdin closes
            process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        finally:
            if process.stdout is not None:
                process.stdout.close()

    def _kill(self) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        process.kill()
        code = process.wait()
        for stream in (process.stdin, process.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        return code


_shared: DecodeWorker | None = None
_shared_lock = threading.Lock()


def shared_worker() -> DecodeWorker:
    """The process-wide worker, created on first use and stopped at interpreter exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = DecodeWorker()
            atexit.register(_shared.close)
        return _shared
