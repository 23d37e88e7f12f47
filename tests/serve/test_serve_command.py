"""`crosslmm serve` as a user starts it: the bind checks, the line to export, a clean stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from serve_fixtures import SCENES, chat_body

from crosslmm_cli.client import ServerConnection
from crosslmm_cli.errors import UsageError
from crosslmm_cli.serve.server import check_bind


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_needs_no_key(host):
    check_bind(host, None)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com"])
def test_any_other_address_needs_a_key(host):
    with pytest.raises(UsageError, match="refusing to listen"):
        check_bind(host, None)
    check_bind(host, "a key")


def serve(*args, env=None):
    command = [sys.executable, "-m", "crosslmm_cli", "serve", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_a_non_loopback_bind_without_a_key_is_refused_before_loading(monkeypatch):
    monkeypatch.delenv("CROSSLMM_API_KEY", raising=False)
    started = time.monotonic()
    process = serve("--host", "0.0.0.0", "--port", "0")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "refusing to listen on 0.0.0.0 without an API key" in err and "CROSSLMM_API_KEY" in err
    assert out == "" and time.monotonic() - started < 30  # no model was loaded


@pytest.mark.slow
@pytest.mark.subprocess
def test_serve_prints_the_export_line_answers_and_stops_cleanly_on_sigterm(tmp_path):
    process = serve("--model", "demo", "--port", "0", "--allow-path", str(SCENES.parent))
    try:
        line = process.stdout.readline()
        assert line.startswith("export CROSSLMM_SERVER=http://127.0.0.1:")
        connection = ServerConnection(line.strip().split("=", 1)[1])
        assert connection.get("/v1/models")["data"][0]["id"] == "demo"
        body = chat_body(SCENES, "Describe the video.")
        whole = json.loads(connection.post("/v1/chat/completions", body))["choices"][0]["message"]["content"]
        streamed = []
        for event in connection.events("/v1/chat/completions", body):  # SIGTERM in the middle of an answer
            streamed += [c["delta"].get("content") or "" for c in event["choices"]]
            if len(streamed) == 2:
                process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert "".join(streamed) == whole  # the answer in flight finished, [DONE] and all (events() checks)
    assert process.returncode == 0, err
    assert "serving demo on http://127.0.0.1:" in err and "GET /v1/models 200" in err and err.rstrip().endswith("stopped")
    assert "Traceback" not in err
