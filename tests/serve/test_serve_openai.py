"""The OpenAI-compatible endpoints, driven by the official `openai` client against the real server
(uvicorn on 127.0.0.1, an ephemeral port, the bundled demo model). Answers are compared with what
the engine gives locally, never with the demo's current wording (it is being retrained)."""

from __future__ import annotations

import base64
import os

import pytest
from serve_fixtures import CIRCLE, SCENES

from crosslmm_cli.engine import FrameOptions, GenerationOptions, VideoPipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120)


def local_answer(engine, video, question, *, frames=FrameOptions(), history=(), generation=GenerationOptions(),
                 tokens_per_frame=None, system=None):
    """What the engine answers in this process, as `crosslmm ask` would (no server involved)."""
    view = engine.with_tokens_per_frame(tokens_per_frame)
    pipeline = VideoPipeline(view, frames)
    prepared = pipeline.prepare(str(video))
    encoded = pipeline.encode(prepared)
    with view.answer(encoded, question, generation, history=history, subtitles=pipeline.subtitle_lines(prepared),
                     system=system) as answer:
        text = "".join(answer)
    return text, answer.stats


def video_part(video=CIRCLE):
    return {"type": "video_url", "video_url": {"url": f"file://{video.resolve()}"}}


def ask(client, question, video=CIRCLE, **kwargs):
    messages = [{"role": "user", "content": [video_part(video), {"type": "text", "text": question}]}]
    return client.chat.completions.create(model="demo", messages=messages, **kwargs)


def test_models_lists_the_served_model(client):
    assert [m.id for m in client.models.list().data] == ["demo"]
    assert client.models.retrieve("demo").id == "demo"


def test_a_completion_is_what_the_engine_answers_with_usage(client, engine):
    expected, stats = local_answer(engine, CIRCLE, "Describe the video.")
    completion = ask(client, "Describe the video.")
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content == expected
    assert choice.finish_reason == "stop"
    assert completion.model == "demo" and completion.object == "chat.completion"
    assert completion.usage.prompt_tokens == stats.prompt_tokens
    assert completion.usage.completion_tokens == stats.new_tokens
    assert completion.usage.total_tokens == stats.prompt_tokens + stats.new_tokens


def test_a_streamed_completion_sends_the_same_text_in_chunks_then_usage(client):
    whole = ask(client, "Describe the video.").choices[0].message.content
    chunks = list(ask(client, "Describe the video.", stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1  # streamed, not one lump
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == "stop" and finals[0].usage.completion_tokens > 0
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == finals[0].usage.total_tokens
    assert len({c.id for c in chunks}) == 1


def test_history_turns_are_the_conversation_before_the_question(client, engine):
    first, _ = local_answer(engine, CIRCLE, "Describe the video.")
    expected, _ = local_answer(engine, CIRCLE, "What shape is the blue object?", history=[("Describe the video.", first.strip())])
    messages = [
        {"role": "user", "content": [video_part(), {"type": "text", "text": "Describe the video."}]},
        {"role": "assistant", "content": first.strip()},
        {"role": "user", "content": "What shape is the blue object?"},
    ]
    answer = client.chat.completions.create(model="demo", messages=messages).choices[0].message.content
    assert answer == expected


def test_sampling_extras_mean_what_the_cli_flags_mean(client, engine):
    expected, stats = local_answer(engine, SCENES, "Describe the video.", frames=FrameOptions(num_frames=4, start=2.0))
    completion = ask(client, "Describe the video.", SCENES, extra_body={"frames": 4, "start": "0:02"})
    assert completion.choices[0].message.content == expected
    assert completion.usage.prompt_tokens == stats.prompt_tokens  # 4 frames and the segment in the prompt


def test_tokens_per_frame_per_request_equals_a_model_loaded_with_it(client, engine):
    from crosslmm_cli.engine import Engine, ModelOptions

    loaded = Engine.load(str(CIRCLE.parents[1]), ModelOptions(device="cpu", tokens_per_frame=4), name="demo",
                         default_frames=engine.default_frames)
    expected, stats = local_answer(loaded, CIRCLE, "Describe the video.")
    completion = ask(client, "Describe the video.", extra_body={"tokens_per_frame": 4})
    assert completion.choices[0].message.content == expected
    assert completion.usage.prompt_tokens == stats.prompt_tokens


def test_max_tokens_ends_with_length(client):
    completion = ask(client, "Describe the video.", max_tokens=3)
    assert completion.choices[0].finish_reason == "length" and completion.usage.completion_tokens == 3


def test_stop_strings_cut_the_answer_before_them(client):
    whole = ask(client, "Describe the video.").choices[0].message.content
    words = whole.split()
    stop = " " + words[len(words) // 2]
    cut = whole[: whole.index(stop)]
    for stream in (False, True):
        if stream:
            text = "".join(c.choices[0].delta.content or "" for c in ask(client, "Describe the video.", stop=[stop, "zzz"], stream=True)
                           if c.choices)
        else:
            text = ask(client, "Describe the video.", stop=stop).choices[0].message.content
        assert text == cut


def test_sampling_with_a_seed_is_reproducible(client):
    answers = {ask(client, "Describe the video.", temperature=1.0, top_p=0.9, seed=7).choices[0].message.content
               for _ in range(2)}
    assert len(answers) == 1


def test_an_uploaded_video_is_answered_like_the_file_and_deleted_after(client, server):
    data = base64.b64encode(CIRCLE.read_bytes()).decode()
    messages = [{"role": "user", "content": [{"type": "video_url", "video_url": f"data:video/mp4;base64,{data}"},
                                             {"type": "text", "text": "Describe the video."}]}]
    uploaded = client.chat.completions.create(model="demo", messages=messages).choices[0].message.content
    assert uploaded == ask(client, "Describe the video.").choices[0].message.content
    assert os.listdir(server.serving.upload_dir) == []


def test_a_system_message_is_the_prompt_s_system_prompt(client, engine):
    expected, stats = local_answer(engine, CIRCLE, "Describe the video.", system="Answer briefly.")
    messages = [{"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": [video_part(), {"type": "text", "text": "Describe the video."}]}]
    with_system = client.chat.completions.create(model="demo", messages=messages)
    assert with_system.choices[0].message.content == expected
    assert with_system.usage.prompt_tokens == stats.prompt_tokens != ask(client, "Describe the video.").usage.prompt_tokens
