"""Raw HTTP against the real server: every error status in OpenAI's shape, paths that try to leave
--allow-path, oversized and truncated uploads, the API key, a full queue, a client that goes away
mid-stream, and 16 requests at once (bounded in count and time, on loopback)."""

from __future__ import annotations

import base64
import concurrent.futures
import os
import time

import httpx
import pytest
from serve_fixtures import CIRCLE, SCENES, chat_body, running_server

pytestmark = pytest.mark.slow


def post(server, path, body=None, **kwargs):
    return httpx.post(server.url + path, json=body, timeout=120, **kwargs)


def error_of(response, status):
    """The OpenAI-shaped error of `response`, after checking its status and shape."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert "\n" not in error["message"] and "Traceback" not in error["message"]
    return error


@pytest.mark.parametrize("body, param, words", [
    ({"messages": []}, "messages", "at least 1"),
    ({"model": "demo"}, "messages", "Field required"),
    (chat_body(CIRCLE, "q", n=2), "n", "one choice"),
    (chat_body(CIRCLE, "q", tools=[{"type": "function"}]), "tools", "not supported"),
    ({"messages": [{"role": "user", "content": "no video here"}]}, "messages", "no video"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "q"}]}]},
     "messages.0.content.0", "not supported"),
    (chat_body(CIRCLE, "q", frames=0), None, "--frames must be >= 1"),
    (chat_body(CIRCLE, "q", frames=4, fps=1.0), None, "--frames and --fps exclude each other"),
    (chat_body(CIRCLE, "q", tokens_per_frame=3), None, "square number"),
    (chat_body("https://example.com/a.mp4", "q"), "messages.0.content.0.video_url", "not fetched"),
    (chat_body(CIRCLE, "q", temperature=-1), None, "--temperature must be >= 0"),
])
def test_bad_requests_are_400_naming_the_field(server, body, param, words):
    error = error_of(post(server, "/v1/chat/completions", body), 400)
    assert error["type"] == "invalid_request_error" and words in error["message"]
    if param is not None:
        assert error["param"] == param


def test_bad_json_is_400(server):
    error = error_of(httpx.post(server.url + "/v1/chat/completions", content=b"{not json", timeout=30), 400)
    assert "JSON" in error["message"]


def test_an_unknown_model_and_an_unknown_route_are_404(server):
    error = error_of(post(server, "/v1/chat/completions", {**chat_body(CIRCLE, "q"), "model": "gpt-4o"}), 404)
    assert error["code"] == "model_not_found" and "'demo'" in error["message"]
    assert error_of(httpx.get(server.url + "/v1/models/nope", timeout=30), 404)["code"] == "model_not_found"
    assert error_of(httpx.get(server.url + "/v1/nothing", timeout=30), 404)["code"] == "not_found"


def test_a_path_outside_allow_path_is_refused_via_dotdot_and_via_a_symlink(server, allowed, tmp_path):
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(CIRCLE.read_bytes())
    dotdot = f"file://{allowed}/../{tmp_path.name}/secret.mp4"
    link = allowed / "innocent.mp4"
    link.symlink_to(outside)
    for url in (dotdot, f"file://{link}", f"file://{outside}", "file:///etc/passwd"):
        error = error_of(post(server, "/v1/chat/completions", chat_body(url, "q")), 403)
        assert "not under a directory this server may read" in error["message"] and "hint" in error


def test_an_unreadable_video_is_422_with_the_video_layer_s_cause(server, allowed):
    broken = allowed / "broken.mp4"
    broken.write_text("this is not a video\n")
    error = error_of(post(server, "/v1/chat/completions", chat_body(broken, "q")), 422)
    assert error["code"] == "input_error" and error["message"].startswith(f"{broken}: ")
    missing = error_of(post(server, "/v1/chat/completions", chat_body(allowed / "gone.mp4", "q")), 422)
    assert missing["message"] == f"{allowed / 'gone.mp4'}: no such file"


def test_an_oversized_upload_is_413_before_it_is_decoded(server):
    data = base64.b64encode(os.urandom(300_000)).decode()  # the test server's --max-upload is 200 kB
    error = error_of(post(server, "/v1/chat/completions", chat_body(f"data:video/mp4;base64,{data}", "q")), 413)
    assert "over this server's limit" in error["message"]
    huge = b'{"messages": "' + b"x" * 2_000_000 + b'"}'
    error_of(httpx.post(server.url + "/v1/chat/completions", content=huge, timeout=30), 413)  # the body itself
    assert os.listdir(server.serving.upload_dir) == []


def test_a_truncated_base64_video_is_refused_and_leaves_no_file(server):
    data = base64.b64encode(CIRCLE.read_bytes()).decode()
    error = error_of(post(server, "/v1/chat/completions", chat_body(f"data:video/mp4;base64,{data[:-3]}", "q")), 400)
    assert "truncated" in error["message"]
    cut = base64.b64encode(CIRCLE.read_bytes()[:1200]).decode()  # valid base64 of a file cut short
    error = error_of(post(server, "/v1/chat/completions", chat_body(f"data:video/mp4;base64,{cut}", "q")), 422)
    assert error["message"].startswith("upload: ")
    assert os.listdir(server.serving.upload_dir) == []


def test_a_full_queue_is_503_with_retry_after(server):
    scheduler = server.serving.scheduler
    held = 0
    try:
        while scheduler.load < scheduler.max_queue:
            scheduler.admit()
            held += 1
        response = post(server, "/v1/chat/completions", chat_body(CIRCLE, "q"))
        error_of(response, 503)
        assert int(response.headers["Retry-After"]) >= 1
    finally:
        for _ in range(held):
            scheduler.release()
    assert post(server, "/v1/chat/completions", chat_body(CIRCLE, "q")).status_code == 200


def test_an_api_key_is_required_as_a_bearer_token(engine, allowed):
    from crosslmm_cli.serve.serving import ServeSettings

    with running_server(engine, ServeSettings(allow_paths=(str(CIRCLE.parent),), api_key="s3cret")) as keyed:
        assert error_of(httpx.get(keyed.url + "/v1/models", timeout=30), 401)["type"] == "authentication_error"
        wrong = httpx.get(keyed.url + "/v1/models", headers={"Authorization": "Bearer nope"}, timeout=30)
        assert error_of(wrong, 401)["code"] == "invalid_api_key"
        right = httpx.get(keyed.url + "/v1/models", headers={"Authorization": "Bearer s3cret"}, timeout=30)
        assert right.status_code == 200 and right.json()["data"][0]["id"] == "demo"


def test_a_client_that_disconnects_mid_stream_stops_its_generation(server, monkeypatch):
    from crosslmm_cli.serve import scheduler as scheduler_module

    finished = []
    real = scheduler_module._answer_alone

    def recording(job, stopping):
        real(job, stopping)
        finished.append(job.stats.new_tokens)

    monkeypatch.setattr(scheduler_module, "_answer_alone", recording)
    whole = post(server, "/v1/chat/completions", chat_body(SCENES, "Describe the video.", max_tokens=200)).json()
    full_tokens = whole["usage"]["completion_tokens"]
    with httpx.Client(timeout=60) as client:
        with client.stream("POST", server.url + "/v1/chat/completions",
                           json=chat_body(SCENES, "Describe the video.", stream=True, max_tokens=200)) as response:
            for line in response.iter_lines():
                if '"content":"' in line and '"content":""' not in line:
                    break  # the first piece of text: hang up
    deadline = time.monotonic() + 30
    while len(finished) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(finished) == 2 and finished[1] < full_tokens  # stopped early, not run to its end
    after = post(server, "/v1/chat/completions", chat_body(SCENES, "Describe the video.", max_tokens=200)).json()
    assert after["choices"][0]["message"]["content"] == whole["choices"][0]["message"]["content"]
    assert server.serving.scheduler.load == 0


def test_sixteen_concurrent_requests_are_all_answered_as_serial_greedy_ones(server):
    questions = ["Describe the video.", "What shape is the blue object?", "How many shapes are there at the start?",
                 "What colour is the background?"]
    work = [(video, q) for video in (CIRCLE, SCENES) for q in questions] * 2  # 16 requests
    serial = {item: post(server, "/v1/chat/completions", chat_body(*item)).json()["choices"][0]["message"]["content"]
              for item in set(work)}
    before = sum(size * count for size, count in server.serving.scheduler.batches.items() if size > 1)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda item: post(server, "/v1/chat/completions", chat_body(*item)), work))
    assert [r.status_code for r in responses] == [200] * 16
    assert [r.json()["choices"][0]["message"]["content"] for r in responses] == [serial[item] for item in work]
    batched = sum(size * count for size, count in server.serving.scheduler.batches.items() if size > 1) - before
    assert batched > 0  # some of them shared a generate() call
