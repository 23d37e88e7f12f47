"""Reading LLaVA-style training data: valid records, and one clear message per broken one."""

from __future__ import annotations

import json

import pytest

from crosslmm_cli.training.errors import DataFileError
from crosslmm_cli.training.records import read_conversations


def record(video="clip.mp4", conversations=None, **extra):
    conversations = conversations or [{"from": "human", "value": "<video>\nWhat is it?"}, {"from": "gpt", "value": "A ball."}]
    return {"video": video, "conversations": conversations, **extra}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "clip.mp4").write_bytes(b"\0")
    return tmp_path


def test_jsonl_and_json_list_read_the_same(folder):
    records = [record("clips/clip.mp4", id="a"),
               record("clips/clip.mp4", [{"from": "human", "value": "Which?<video>"}, {"from": "gpt", "value": "One."},
                                         {"from": "user", "value": "And?"}, {"from": "assistant", "value": "Two."}])]
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "data.json").write_text(json.dumps(records))
    from_lines, problems = read_conversations(folder / "data.jsonl")
    from_list, _ = read_conversations(folder / "data.json")
    assert problems == []
    assert [(c.id, c.video, c.turns) for c in from_lines] == [(c.id, c.video, c.turns) for c in from_list]
    first, second = from_lines
    assert first.id == "a" and first.video == (folder / "clips" / "clip.mp4").resolve()
    assert first.turns == (("What is it?", "A ball."),)
    assert second.turns == (("Which?", "One."), ("And?", "Two.")) and second.id == "data-2"
    assert first.where == "data.jsonl:1"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("not json", "data.jsonl:2: not valid JSON"),
        (json.dumps(record(video="")), "data.jsonl:2: 'video' must be a non-empty path"),
        (json.dumps(record(video="clips/missing.mp4")), "data.jsonl:2: video"),
        (json.dumps(record(conversations=[{"from": "human", "value": "no marker"}, {"from": "gpt", "value": "x"}])),
         "exactly one <video> marker, found 0"),
        (json.dumps(record(conversations=[{"from": "gpt", "value": "<video>"}])), "expected a human turn"),
        (json.dumps(record(conversations=[{"from": "human", "value": "<video>"}])), "ends with a human turn"),
        (json.dumps(record(conversations=[{"from": "human", "value": "<video>q"}, {"from": "gpt", "value": "a"},
                                          {"from": "human", "value": "<video>again"}, {"from": "gpt", "value": "b"}])),
         "only the first human turn may"),
        (json.dumps([1, 2]), "expected a JSON object"),
    ],
)
def test_a_broken_record_is_named_and_left_out(folder, bad, message):
    good = json.dumps(record("clips/clip.mp4"))
    (folder / "data.jsonl").write_text(f"{good}\n{bad}\n\n")
    conversations, problems = read_conversations(folder / "data.jsonl")
    assert len(conversations) == 1 and len(problems) == 1
    assert message in problems[0]
    assert problems[0].startswith("data.jsonl:2: ")


def test_a_file_without_usable_records_is_an_error(folder):
    (folder / "data.jsonl").write_text(json.dumps(record("clips/missing.mp4")) + "\n")
    with pytest.raises(DataFileError, match=r"data.jsonl: no usable training record \(first problem: data.jsonl:1: video"):
        read_conversations(folder / "data.jsonl")
    with pytest.raises(DataFileError, match="absent.jsonl: no such file"):
        read_conversations(folder / "absent.jsonl")
    (folder / "broken.json").write_text("[{")
    with pytest.raises(DataFileError, match="broken.json: not valid JSON"):
        read_conversations(folder / "broken.json")
