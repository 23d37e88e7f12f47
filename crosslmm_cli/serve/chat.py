"""POST /v1/chat/completions: OpenAI's messages onto one video, a question and the turns before it.

A conversation is about one video, given as a `video_url` part in a user message (usually the
first); every user message's text parts make its question, every assistant message the answer to
the question before it, and system (or developer) messages the system prompt. The last message is
the question to answer now, with the earlier pairs as history, exactly as `crosslmm chat` keeps it.
The video is encoded once per (file, sampling) and found in the cache on every later turn.

`stop` strings are matched on the text as it streams: text that could begin a stop string is held
back until it cannot, and the answer ends (its generation at the next token) where one appears.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from crosslmm_cli.serve.http_errors import bad_request
from crosslmm_cli.serve.protocol import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChunkChoice,
    Delta,
    Usage,
)
from crosslmm_cli.serve.serving import Serving, joined

UNSUPPORTED = ("tools", "tool_choice", "functions", "function_call", "logprobs", "top_logprobs", "audio")


@dataclass
class Conversation:
    video: str  # the video_url's URL
    video_param: str  # where it was, for errors (messages.0.content.0.video_url)
    question: str
    history: list[tuple[str, str]] = field(default_factory=list)
    system: str | None = None


def read_conversation(request: ChatCompletionRequest) -> Conversation:
    """The request's messages as one video, a question, its history and a system prompt; 400 when they cannot be."""
    if request.n != 1:
        raise bad_request("n: only one choice per request is generated", "n")
    for name in UNSUPPORTED:
        if (request.model_extra or {}).get(name):
            raise bad_request(f"{name}: not supported by this server", name)
    fmt = (request.model_extra or {}).get("response_format")
    if fmt and (not isinstance(fmt, dict) or fmt.get("type") != "text"):
        raise bad_request("response_format: only text answers are generated", "response_format")
    system: list[str] = []
    turns: list[tuple[str, str]] = []  # (role, text), same-role neighbours merged
    videos: dict[str, str] = {}
    for index, message in enumerate(request.messages):
        text = _text_of(message, index, videos)
        if message.role in ("system", "developer"):
            system.append(text)
        elif turns and turns[-1][0] == message.role:
            turns[-1] = (message.role, joined([turns[-1][1], text]))
        else:
            turns.append((message.role, text))
    if not turns or turns[-1][0] != "user":
        raise bad_request("messages: the last message must be the user's question", "messages")
    if turns[0][0] != "user":
        raise bad_request("messages: an assistant message comes before any question", "messages")
    if not videos:
        raise bad_request("messages: no video; add a {\"type\": \"video_url\", \"video_url\": {\"url\": ...}} part", "messages")
    if len(videos) > 1:
        raise bad_request(f"messages: one video per conversation, got {len(videos)}", "messages")
    question = turns[-1][1]
    if not question.strip():
        raise bad_request("messages: the last user message has no text", "messages")
    history = [(turns[k][1], turns[k + 1][1]) for k in range(0, len(turns) - 1, 2)]
    (url, param), = videos.items()
    return Conversation(url, param, question, history, joined(system) or None)


def _text_of(message: ChatMessage, index: int, videos: dict[str, str]) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    texts = []
    for k, part in enumerate(message.content):
        param = f"messages.{index}.content.{k}"
        if part.type == "text":
            texts.append(part.text or "")
        elif part.type == "video_url" and part.video_url is not None and message.role == "user":
            videos.setdefault(part.video_url.url, f"{param}.video_url")
        else:
            raise bad_request(f"{param}: content parts of type {part.type!r} are not supported here "
                              "(text, and video_url in user messages)", param)
    return joined(texts)


class StopText:
    """Cuts streamed text at the first `stop` string, holding back what could be the start of one."""

    def __init__(self, stops: str | Sequence[str] | None) -> None:
        stops = [stops] if isinstance(stops, str) else list(stops or [])
        if len(stops) > 4:
            raise bad_request("stop: at most 4 stop strings", "stop")
        self.stops = [s for s in stops if s]
        self.buffer = ""
        self.stopped = False

    def feed(self, chunk: str) -> str:
        """The text that can be sent now."""
        if self.stopped:
            return ""
        self.buffer += chunk
        cuts = [i for i in (self.buffer.find(s) for s in self.stops) if i >= 0]
        if cuts:
            self.stopped = True
            out, self.buffer = self.buffer[: min(cuts)], ""
            return out
        keep = max((k for s in self.stops for k in range(min(len(s) - 1, len(self.buffer)), 0, -1)
                    if self.buffer.endswith(s[:k])), default=0)  # the longest tail that may begin a stop string
        out = self.buffer[: len(self.buffer) - keep]
        self.buffer = self.buffer[len(out):]
        return out

    def flush(self) -> str:
        out, self.buffer = ("" if self.stopped else self.buffer), ""
        return out


@dataclass
class ChatOutcome:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


def answer_chat(serving: Serving, request: ChatCompletionRequest, conversation: Conversation, source: Any,
                cancelled: threading.Event, emit: Callable[[tuple[str, Any]], None]) -> ChatOutcome:
    """In the request's thread: open the video, then answer, emitting ("ready", None) and ("text", chunk)."""
    frames, generation = serving.frame_options(request), serving.generation_options(request)
    opened = serving.open_video(source, frames, request, cancelled)
    emit(("ready", None))
    stop = StopText(request.stop)
    answer = opened.pipeline.engine.answer(opened.encoded, conversation.question, generation,
                                           history=conversation.history, system=conversation.system,
                                           subtitles=opened.pipeline.subtitle_lines(opened.prepared))
    text = ""
    with answer:
        for chunk in answer:
            piece = stop.feed(chunk)
            if piece:
                text += piece
                emit(("text", piece))
            if stop.stopped:
                answer.close()  # generation stops at the next token; read on to its end for the counts
    tail = stop.flush()
    if tail:
        text += tail
        emit(("text", tail))
    stats = answer.stats
    new_tokens = stats.new_tokens if stats else 0
    length = not stop.stopped and new_tokens >= generation.max_new_tokens
    return ChatOutcome(text, stats.prompt_tokens if stats else 0, new_tokens, "length" if length else "stop")


class ChatIds:
    """The id, time and model every chunk of one completion repeats."""

    def __init__(self, serving: Serving) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = serving.model_name
        self.fingerprint = f"crosslmm-{serving.engine.fingerprint[:12]}"

    def completion(self, outcome: ChatOutcome) -> ChatCompletion:
        return ChatCompletion(id=self.id, created=self.created, model=self.model, system_fingerprint=self.fingerprint,
                              choices=[Choice(message=AssistantMessage(content=outcome.text),
                                              finish_reason=outcome.finish_reason)],
                              usage=usage(outcome))

    def text_chunk(self, text: str) -> str:
        """The SSE line of a chunk carrying `text` (the one sent per token: written directly, not through pydantic)."""
        return (f'data: {{"id":"{self.id}","object":"chat.completion.chunk","created":{self.created},'
                f'"model":{json.dumps(self.model)},"system_fingerprint":"{self.fingerprint}",'
                f'"choices":[{{"index":0,"delta":{{"content":{json.dumps(text, ensure_ascii=False)}}}}}]}}\n\n')

    def chunk(self, delta: Delta | None, finish_reason: str | None = None, outcome: ChatOutcome | None = None,
              choices: bool = True) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self.id, created=self.created, model=self.model, system_fingerprint=self.fingerprint,
            choices=[ChunkChoice(delta=delta or Delta(), finish_reason=finish_reason)] if choices else [],
            usage=usage(outcome) if outcome is not None else None,
        )


def usage(outcome: ChatOutcome) -> Usage:
    return Usage(prompt_tokens=outcome.prompt_tokens, completion_tokens=outcome.completion_tokens,
                 total_tokens=outcome.prompt_tokens + outcome.completion_tokens)
