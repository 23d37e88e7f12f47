"""What crosslmm does with one video: describe it, answer questions, or chapter it.

Each task takes a `PreparedVideo` and returns the fields of its result record (the batch engine
adds `path`, `ok`, `task`, `elapsed_s`). Text is streamed to `Hooks.on_text` as it is generated,
so the same functions serve the terminal (streaming) and JSON Lines (whole records).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from crosslmm_cli.engine.options import FrameOptions, GenerationOptions
from crosslmm_cli.errors import reraise_out_of_memory
from crosslmm_cli.tasks.chapter_formats import chapters_as_dicts
from crosslmm_cli.tasks.chapters import Chapter, ChapterOptions, detect_chapters

if TYPE_CHECKING:
    from crosslmm_cli.engine.inference import EncodedVideo, GenerationStats
    from crosslmm_cli.engine.pipeline import PreparedVideo, VideoPipeline

DESCRIBE_PROMPT = "Describe this video in detail: what happens, in order, and roughly when."
TITLE_PROMPT = "Give this part of the video a short title of at most six words. Reply with the title only."
TITLE_MAX_NEW_TOKENS = 24
TASKS = ("describe", "ask", "chapterize")
# Chapters need the whole video, densely: one frame every 2 s, at most 128, unless flags say otherwise.
CHAPTER_FPS = 0.5
CHAPTER_MAX_FRAMES = 128


def chapter_frames(frames: FrameOptions) -> FrameOptions:
    """The sampling for chapters: the user's --frames/--fps if given, else CHAPTER_FPS up to CHAPTER_MAX_FRAMES."""
    if frames.num_frames is not None or frames.fps is not None:
        return frames
    return replace(frames, fps=CHAPTER_FPS, max_frames=frames.max_frames or CHAPTER_MAX_FRAMES)


@dataclass(frozen=True)
class Hooks:
    """Where streamed text and per-answer statistics go (the CLI's renderer and --verbose)."""

    on_text: Callable[[str], None] | None = None
    on_stats: Callable[[GenerationStats], None] | None = None


def video_fields(pipeline: VideoPipeline, prepared: PreparedVideo, encoded: EncodedVideo) -> dict[str, Any]:
    """The record fields every task shares: what was sampled and by which model."""
    fields: dict[str, Any] = {
        "duration": round(prepared.duration, 3),
        "frames": encoded.num_frames,
        "timestamps": [round(float(t), 3) for t in encoded.timestamps],
        "model": pipeline.engine.name,
        "tokens_per_frame": pipeline.engine.tokens_per_frame,
    }
    if prepared.subtitles is not None:
        fields["subtitles"] = prepared.subtitles.source
    if prepared.partial:
        fields["partial"] = True
    return fields


def generate_text(
    pipeline: VideoPipeline,
    prepared: PreparedVideo,
    encoded: EncodedVideo,
    question: str,
    generation: GenerationOptions,
    hooks: Hooks = Hooks(),
    history: Sequence[tuple[str, str]] = (),
) -> str:
    """One answer, streamed to `hooks.on_text`, returned whole."""
    try:
        with pipeline.engine.answer(
            encoded, question, generation, history=history, subtitles=pipeline.subtitle_lines(prepared)
        ) as answer:
            for chunk in answer:
                if hooks.on_text is not None:
                    hooks.on_text(chunk)
    except Exception as exc:
        reraise_out_of_memory(exc, encoded.num_frames, "answering from")
        raise
    if hooks.on_stats is not None:
        hooks.on_stats(answer.stats)
    return answer.text.strip()


def describe_video(
    pipeline: VideoPipeline, prepared: PreparedVideo, generation: GenerationOptions, *,
    prompt: str = DESCRIBE_PROMPT, hooks: Hooks = Hooks(), encoded: EncodedVideo | None = None,
) -> dict[str, Any]:
    """The describe record's fields; `encoded` when the caller has already encoded `prepared`."""
    encoded = encoded or pipeline.encode(prepared)
    text = generate_text(pipeline, prepared, encoded, prompt, generation, hooks)
    return {"text": text, **video_fields(pipeline, prepared, encoded)}


def ask_video(
    pipeline: VideoPipeline, prepared: PreparedVideo, question: str, generation: GenerationOptions, *,
    hooks: Hooks = Hooks(), encoded: EncodedVideo | None = None,
) -> dict[str, Any]:
    """The ask record's fields; `encoded` when the caller has already encoded `prepared` (several questions)."""
    encoded = encoded or pipeline.encode(prepared)
    text = generate_text(pipeline, prepared, encoded, question, generation, hooks)
    return {"text": text, **video_fields(pipeline, prepared, encoded)}


def find_chapters(pipeline: VideoPipeline, encoded: EncodedVideo, options: ChapterOptions) -> list[Chapter]:
    """Boundaries from the encoder features already computed (no second encoding)."""
    return detect_chapters(pipeline.engine.frame_embeddings(encoded), encoded.timestamps, encoded.duration, options)


def title_chapters(
    pipeline: VideoPipeline, prepared: PreparedVideo, encoded: EncodedVideo, chapters: Sequence[Chapter],
    generation: GenerationOptions, hooks: Hooks = Hooks(),
) -> list[Chapter]:
    """Each chapter titled by the model from that chapter's frames alone (their features, reused)."""
    titled = []
    short = replace(generation, max_new_tokens=min(generation.max_new_tokens, TITLE_MAX_NEW_TOKENS))
    for number, chapter in enumerate(chapters, 1):
        part = replace(encoded.select(chapter.frames), segment=(chapter.start, chapter.end))
        text = generate_text(pipeline, prepared, part, TITLE_PROMPT, short, Hooks(on_stats=hooks.on_stats))
        titled.append(chapter.titled(clean_title(text) or f"Chapter {number}"))
    return titled


def titled_chapters(
    pipeline: VideoPipeline, prepared: PreparedVideo, encoded: EncodedVideo, options: ChapterOptions,
    generation: GenerationOptions, *, check: Callable[[list[Chapter]], None] | None = None, hooks: Hooks = Hooks(),
) -> list[Chapter]:
    """Boundaries, then a title for each; `check` sees the boundaries first (YouTube's rules), before
    any time goes into titles."""
    chapters = find_chapters(pipeline, encoded, options)
    if check is not None:
        check(chapters)
    return title_chapters(pipeline, prepared, encoded, chapters, generation, hooks)


def chapterize_video(
    pipeline: VideoPipeline, prepared: PreparedVideo, options: ChapterOptions, generation: GenerationOptions, *,
    hooks: Hooks = Hooks(), encoded: EncodedVideo | None = None,
) -> dict[str, Any]:
    """The chapterize record's fields; `encoded` when the caller has already encoded `prepared`."""
    encoded = encoded or pipeline.encode(prepared)
    chapters = titled_chapters(pipeline, prepared, encoded, options, generation, hooks=hooks)
    return {"chapters": chapters_as_dicts(chapters), **video_fields(pipeline, prepared, encoded)}


@dataclass(frozen=True)
class TaskRunner:
    """The model work of one task on one prepared video: `run_batch`'s `process`."""

    pipeline: VideoPipeline
    task: str  # one of TASKS
    prompt: str  # the describe instruction, or the question for "ask"
    generation: GenerationOptions
    chapter_options: ChapterOptions = ChapterOptions()
    on_stats: Callable[[GenerationStats], None] | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")

    def __call__(self, path: str, prepared: PreparedVideo, on_text: Callable[[str], None] | None = None) -> dict[str, Any]:
        hooks = Hooks(on_text=on_text, on_stats=self.on_stats)
        if self.task == "chapterize":
            return chapterize_video(self.pipeline, prepared, self.chapter_options, self.generation, hooks=hooks)
        if self.task == "ask":
            return ask_video(self.pipeline, prepared, self.prompt, self.generation, hooks=hooks)
        return describe_video(self.pipeline, prepared, self.generation, prompt=self.prompt, hooks=hooks)


_TITLE_PREFIX = re.compile(r"^(title|chapter(\s+\d+)?)\s*[:\-–]\s*", re.IGNORECASE)


def clean_title(text: str, max_chars: int = 80) -> str:
    """A model's reply as a one-line title: first line, no "Title:" prefix, quotes or final period."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = _TITLE_PREFIX.sub("", line).strip().strip("\"'*`“”‘’#").strip()
    line = line.rstrip(".").strip()
    if len(line) > max_chars:
        line = line[:max_chars].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return line
