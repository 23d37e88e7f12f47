"""The server's wire format as pydantic models: OpenAI's chat completions, and the tool's own tasks.

Kept apart from the serving logic (as vLLM keeps `protocol.py`): what a request may say and what a
response looks like, validated once on the way in. Fields OpenAI defines keep OpenAI's names and
meaning, except that an omitted `temperature` means 0 (greedy, as the CLI decodes) rather than 1.
Our sampling options ride along as extra body fields (`frames`, `fps`, `max_frames`, `start`, `end`,
`backend`, `tokens_per_frame`, `subtitles`, `cache`) with the meaning of the CLI flags of the same names.

Accepted video content parts: `{"type": "video_url", "video_url": {"url": URL}}`, or the same with
the URL as a plain string (`"video_url": URL`); URL is `file:///absolute/path` or
`data:video/<subtype>;base64,<data>`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# ---- shared ------------------------------------------------------------------------------------


class SamplingFields(BaseModel):
    """Which frames to sample and how to answer: the CLI's --frames ... --seed, by their API names."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None  # None: the served model
    frames: int | None = None
    fps: float | None = None
    max_frames: int | None = None
    start: float | str | None = None  # seconds, or "1:30" as the CLI takes it
    end: float | str | None = None
    backend: str = "auto"  # video decoder: auto | decord | ffmpeg
    tokens_per_frame: int | None = None
    subtitles: str = "auto"  # auto | off | a file:// URL of a .srt/.vtt
    cache: bool = True  # False: neither read nor write the feature caches (--no-cache)
    temperature: float | None = None  # None: 0, greedy
    top_p: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None  # OpenAI's newer name for max_tokens
    stream: bool = False


# ---- OpenAI chat completions -------------------------------------------------------------------


class VideoURL(BaseModel):
    url: str


class ContentPart(BaseModel):
    """One part of a message's content; which types are usable is decided when serving."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None
    video_url: VideoURL | None = None

    @field_validator("video_url", mode="before")
    @classmethod
    def _url_as_string(cls, value: Any) -> Any:
        return {"url": value} if isinstance(value, str) else value


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    stop: str | list[str] | None = None
    n: int = 1
    stream_options: StreamOptions | None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str
    choices: list[Choice]
    usage: Usage


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "crosslmm"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorInfo(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None
    hint: str | None = None  # ours: what to try, as the CLI's `(hint: ...)`


class ErrorResponse(BaseModel):
    error: ErrorInfo


# ---- the tool's own tasks ----------------------------------------------------------------------


class TaskRequest(SamplingFields):
    """POST /v1/describe, /v1/ask, /v1/chapterize, /v1/encode: one video, records as `--jsonl` writes them."""

    video: str  # a file:// or data: URL, as in a video_url part
    name: str | None = None  # what records and errors call the video (default: the file's path, or "upload")
    prompt: str | None = None  # describe: the instruction instead of the default
    questions: list[str] = Field(default_factory=list)  # ask: answered in order over one encoding
    format: str | None = None  # chapterize: text | youtube | json | vtt | ffmetadata, as the CLI prints it
    min_length: float = 10.0  # chapterize, as --min-length / --max-length / --max-chapters
    max_length: float | None = None
    max_chapters: int = 20
