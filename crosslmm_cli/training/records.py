"""Training conversations in the LLaVA convention, read and checked before any training starts.

A data file is a JSON list or JSONL of records::

    {"id": "clip-7", "video": "videos/clip-7.mp4",
     "conversations": [{"from": "human", "value": "<video>\\nWhat colour is the ball?"},
                       {"from": "gpt", "value": "Red."}, ...]}

Video paths are relative to the data file. Turns alternate human / gpt (ShareGPT's user /
assistant are accepted too); the first human turn holds the one `<video>` marker. A record
without "video" is a text-only conversation (no marker), as LLaVA's data mixes have: it trains the
LLM on language alone. A record may name a part of its video, `"start"` and `"end"` in seconds
(either may be left out): its frames are sampled from that part, and the prompt says so, as
`crosslmm ask --start/--end` and the chapter titles of `chapterize` do. A broken record
is reported with its place (`train.jsonl:12: ...`) and left out, so one typo in three million
records does not stop a run; a file with no usable record at all is an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from crosslmm_cli.modeling.prompting import Turn
from crosslmm_cli.training.errors import DataFileError

VIDEO_MARKER = "<video>"
HUMAN_ROLES = ("human", "user")
ANSWER_ROLES = ("gpt", "assistant")


@dataclass(frozen=True)
class Conversation:
    """One training record: a video (or none) and its (question, answer) turns, the marker removed."""

    id: str
    video: Path | None  # absolute: resolved against the data file's folder; None: text only
    turns: tuple[Turn, ...]
    where: str  # "train.jsonl:12" or "train.json: record 12", for messages
    start: float | None = None  # the part of the video the record is about, in seconds
    end: float | None = None

    @property
    def segment(self) -> tuple[float | None, float | None] | None:
        return None if self.start is None and self.end is None else (self.start, self.end)


class RecordError(ValueError):
    """One record is unusable; the message says why (the caller adds where)."""


def iter_json_records(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, parsed record) for a JSON list or a JSONL file; bad JSON lines yield a RecordError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataFileError(f"{path}: cannot read ({error})".splitlines()[0]) from error
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataFileError(f"{path}: not valid JSON ({error})") from error
        for number, record in enumerate(records, start=1):
            yield f"{path.name}: record {number}", record
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as error:
            yield where, RecordError(f"not valid JSON ({error.msg})")


def parse_conversation(record: Any, base: Path, *, fallback_id: str) -> Conversation:
    """Check one record and turn it into a `Conversation` (`where` left empty for the caller)."""
    if not isinstance(record, dict):
        raise RecordError(f"expected a JSON object, got {type(record).__name__}")
    video = record.get("video")
    if video is not None and (not isinstance(video, str) or not video.strip()):
        raise RecordError("'video' must be a non-empty path (or absent, for a text-only record)")
    conversations = record.get("conversations")
    if not isinstance(conversations, list) or not conversations:
        raise RecordError("'conversations' must be a non-empty list")
    turns: list[Turn] = []
    question: str | None = None
    for index, message in enumerate(conversations):
        if not isinstance(message, dict) or not isinstance(message.get("value"), str):
            raise RecordError(f"conversations[{index}] must be an object with a string 'value'")
        role, value = message.get("from"), message["value"]
        expect_question = question is None
        if expect_question and role not in HUMAN_ROLES:
            raise RecordError(f"conversations[{index}] is from {role!r}, expected a human turn")
        if not expect_question and role not in ANSWER_ROLES:
            raise RecordError(f"conversations[{index}] is from {role!r}, expected a gpt turn")
        markers = value.count(VIDEO_MARKER)
        if index == 0 and video is not None:
            if markers != 1:
                raise RecordError(f"the first human turn must hold exactly one {VIDEO_MARKER} marker, found {markers}")
            value = value.replace(VIDEO_MARKER, "").strip()
        elif markers and video is None:
            raise RecordError(f"conversations[{index}] holds a {VIDEO_MARKER} marker but the record has no 'video'")
        elif markers:
            raise RecordError(f"conversations[{index}] holds a {VIDEO_MARKER} marker; only the first human turn may")
        if expect_question:
            question = value
        else:
            if not value.strip():
                raise RecordError(f"conversations[{index}]: empty answer")
            turns.append((question, value))
            question = None
    if question is not None:
        raise RecordError("the conversation ends with a human turn that has no answer")
    start, end = (_seconds(record, key) for key in ("start", "end"))
    if (start is not None or end is not None) and video is None:
        raise RecordError("'start'/'end' name a part of a video, but the record has no 'video'")
    if start is not None and end is not None and end <= start:
        raise RecordError(f"'end' ({end:g} s) must be after 'start' ({start:g} s)")
    video_path = None
    if video is not None:
        video_path = Path(video)
        video_path = (video_path if video_path.is_absolute() else (base / video_path)).resolve()
    record_id = record.get("id", fallback_id)
    return Conversation(id=str(record_id), video=video_path, turns=tuple(turns), where="", start=start, end=end)


def _seconds(record: dict, key: str) -> float | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value == float("inf"):
        raise RecordError(f"'{key}' must be a time in seconds >= 0, got {value!r}")
    return float(value)


def read_conversations(path: str | Path, *, check_videos: bool = True) -> tuple[list[Conversation], list[str]]:
    """All usable records of a data file, and one message per record left out.

    Raises `DataFileError` when the file cannot be read or holds no usable record.
    """
    path = Path(path)
    base = path.resolve().parent
    conversations: list[Conversation] = []
    problems: list[str] = []
    present: dict[Path, bool] = {}  # many records share a video: look each file up once
    for number, (where, record) in enumerate(iter_json_records(path), start=1):
        try:
            if isinstance(record, RecordError):
                raise record
            conversation = parse_conversation(record, base, fallback_id=f"{path.stem}-{number}")
            video = conversation.video
            if check_videos and video is not None and video not in present:
                present[video] = video.is_file()
            if check_videos and video is not None and not present[video]:
                raise RecordError(f"video {conversation.video} not found")
        except RecordError as error:
            problems.append(f"{where}: {error}")
            continue
        conversations.append(replace(conversation, where=where))
    if not conversations:
        detail = f" (first problem: {problems[0]})" if problems else ""
        raise DataFileError(f"{path}: no usable training record{detail}")
    return conversations, problems
