"""Client mode: `ask`, `chat`, `describe` and `chapterize` with --server print byte for byte what they
print without it (elapsed_s aside), with the same exit codes and error lines; the client path imports
neither torch nor transformers. The native endpoints answer with the records `--jsonl` writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import httpx
import pytest
from serve_fixtures import CIRCLE, SCENES
from typer.testing import CliRunner

from crosslmm_cli.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()


def both(server, *args, input=None):
    """(local result, client-mode result) of `crosslmm ARGS --model demo`."""
    command = [str(a) for a in args] + ["--model", "demo"]
    local = runner.invoke(app, command, input=input)
    remote = runner.invoke(app, [*command, "--server", server.url], input=input)
    return local, remote


def records(text):
    """JSON lines without their timing (the one field two runs cannot share)."""
    return [{k: v for k, v in json.loads(line).items() if k != "elapsed_s"} for line in text.splitlines()]


@pytest.fixture
def in_examples(monkeypatch):
    monkeypatch.chdir(CIRCLE.parent)


def test_ask_prints_the_same_text(server, in_examples):
    local, remote = both(server, "ask", "circle.mp4", "Describe the video.")
    assert local.exit_code == remote.exit_code == 0, remote.output
    assert remote.stdout == local.stdout and local.stdout.strip()


def test_ask_with_several_questions_prints_the_same_text_and_json(server, in_examples):
    args = ("ask", "circle.mp4", "-q", "What shape is the blue object?", "-q", "Describe the video.")
    local, remote = both(server, *args)
    assert local.exit_code == remote.exit_code == 0 and remote.stdout == local.stdout
    assert remote.stderr.count("» ") == 2
    local, remote = both(server, *args, "--json", "--frames", "4")
    assert local.exit_code == remote.exit_code == 0
    assert records(remote.stdout) == records(local.stdout) and len(records(local.stdout)) == 2
    normalised = lambda text: [json.dumps({**json.loads(l), "elapsed_s": 0}, ensure_ascii=False) for l in text.splitlines()]  # noqa: E731
    assert normalised(remote.stdout) == normalised(local.stdout)  # the same bytes, key order included


def test_describe_jsonl_gives_the_same_records_failures_and_exit_code(server, allowed, monkeypatch):
    clips = allowed / "clips"
    clips.mkdir(exist_ok=True)
    shutil.copy(CIRCLE, clips / "circle.mp4")
    shutil.copy(SCENES, clips / "three-scenes.mp4")
    (clips / "empty.mp4").write_text("not a video\n")
    monkeypatch.chdir(allowed)
    local, remote = both(server, "describe", "--jsonl", "clips/", "missing.mp4")
    assert local.exit_code == remote.exit_code == 1
    assert records(remote.stdout) == records(local.stdout)
    assert [r["ok"] for r in records(local.stdout)] == [True, False, True, False]
    errors = lambda result: [l for l in result.stderr.splitlines() if l.startswith("error:")]  # noqa: E731
    assert errors(remote) == errors(local) and len(errors(local)) == 2
    local, remote = both(server, "describe", "clips/circle.mp4", "clips/three-scenes.mp4")  # streamed text, headers
    assert local.exit_code == remote.exit_code == 0 and remote.stdout == local.stdout


@pytest.mark.parametrize("fmt", ["text", "json", "vtt"])
def test_chapterize_prints_the_same_chapters(server, in_examples, fmt):
    local, remote = both(server, "chapterize", "three-scenes.mp4", "--fps", "2", "--min-length", "2", "--format", fmt)
    assert local.exit_code == remote.exit_code == 0, remote.output
    assert remote.stdout == local.stdout and local.stdout.strip()


def test_chapterize_youtube_refusal_is_the_same(server, in_examples):
    local, remote = both(server, "chapterize", "circle.mp4", "--format", "youtube")
    assert local.exit_code == remote.exit_code == 1
    assert remote.stderr.splitlines()[-1] == local.stderr.splitlines()[-1] and "YouTube" in local.stderr


def test_chat_from_a_pipe_prints_the_same_answers(server, in_examples):
    questions = "Describe the video.\nWhat shape is the blue object?\n/reset\nWhat happens at 3 seconds?\n"
    local, remote = both(server, "chat", "circle.mp4", input=questions)
    assert local.exit_code == remote.exit_code == 0, remote.output
    assert remote.stdout == local.stdout and len(local.stdout.splitlines()) >= 3


def test_errors_give_the_same_line_and_exit_code(server, in_examples):
    local, remote = both(server, "ask", "gone.mp4", "q")
    assert local.exit_code == remote.exit_code == 1
    assert remote.stderr.splitlines()[-1] == local.stderr.splitlines()[-1] == "error: gone.mp4: no such file"
    local, remote = both(server, "ask", "circle.mp4", "q", "--start", "3", "--end", "1")
    assert local.exit_code == remote.exit_code == 2
    assert remote.stderr.splitlines()[-1] == local.stderr.splitlines()[-1]
    wrong_model = runner.invoke(app, ["ask", "circle.mp4", "q", "--model", "onevision-0.5b", "--server", server.url])
    assert wrong_model.exit_code == 3 and "not served here" in wrong_model.stderr
    unreachable = runner.invoke(app, ["ask", "circle.mp4", "q", "--server", "http://127.0.0.1:9"])
    assert unreachable.exit_code == 3 and "cannot reach the crosslmm server" in unreachable.stderr


def test_the_environment_variable_selects_the_server(server, in_examples, monkeypatch):
    local = runner.invoke(app, ["ask", "circle.mp4", "What shape is the blue object?", "--model", "demo"])
    monkeypatch.setenv("CROSSLMM_SERVER", server.url)
    remote = runner.invoke(app, ["ask", "circle.mp4", "What shape is the blue object?"])
    assert remote.exit_code == 0 and remote.stdout == local.stdout
    assert "bundled demo" not in remote.stderr  # the server's model answered; nothing was loaded here


def test_the_client_path_imports_neither_torch_nor_transformers(server):
    expected = runner.invoke(app, ["ask", str(CIRCLE), "What shape is the blue object?", "--model", "demo"]).stdout
    code = (
        "import sys\n"
        "from crosslmm_cli.cli import main\n"
        f"sys.argv = ['crosslmm', 'ask', {str(CIRCLE)!r}, 'What shape is the blue object?']\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    status = exit.code\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
        "sys.exit(status)\n"
    )
    env = {**os.environ, "CROSSLMM_SERVER": server.url}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected
    assert "HEAVY []" in done.stderr


def test_native_endpoints_answer_with_jsonl_records(server):
    body = {"video": f"file://{CIRCLE}", "name": "circle.mp4", "questions": ["What shape is the blue object?", "Describe the video."]}
    response = httpx.post(server.url + "/v1/ask", json=body, timeout=120)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.text.splitlines()
    assert [json.loads(l)["question"] for l in lines] == body["questions"]
    assert all(set(json.loads(l)) >= {"path", "ok", "task", "text", "frames", "model", "elapsed_s"} for l in lines)
    from crosslmm_cli.batch import record_line

    assert response.content == b"".join(record_line(json.loads(l)) for l in lines)  # record_line's bytes
    described = httpx.post(server.url + "/v1/describe", json={"video": f"file://{CIRCLE}"}, timeout=120).json()
    assert described["task"] == "describe" and described["path"] == str(CIRCLE) and described["text"]
    streamed = httpx.post(server.url + "/v1/describe", json={"video": f"file://{CIRCLE}", "stream": True}, timeout=120)
    events = [json.loads(l[5:]) for l in streamed.text.splitlines() if l.startswith("data: {")]
    assert "".join(e["text"] for e in events if e["type"] == "text").strip() == described["text"]
    assert events[-1]["type"] == "record" and streamed.text.rstrip().endswith("data: [DONE]")
