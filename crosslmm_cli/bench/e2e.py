"""`crosslmm bench e2e VIDEO`: the time a user waits, stage by stage, through the tool's own code.

The stages are the ones `crosslmm ask` goes through (`crosslmm_cli.engine.inference` and
`crosslmm_cli.engine.pipeline`), timed around the same calls:

  load         the model and processor (`Engine.load`), once
  decode       sampling the frames from the file (`VideoPipeline.prepare`: probe, seek, decode)
  encode       preprocessing and the vision encoder (`VideoPipeline.encode`)
  prompt       building and tokenising the prompt (`Engine.answer`)
  first token  from starting generation to the first new token: the prefill
  answer       from the first token to the last: decoding

The feature cache is off (a cache hit would skip decode and encode). The first request is
reported apart from the median of the repeats: it pays one-time costs (kernel selection, the
decode worker starting) that a user meets once per session.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

STAGES = ("decode", "encode", "prompt", "first_token", "answer")


@dataclass
class RequestTiming:
    """One request: seconds per stage, and what generation reported."""

    decode: float
    encode: float
    prompt: float
    first_token: float
    answer: float
    first_text: float  # from the prompt to the first text the user sees (the streamer waits for whole words)
    new_tokens: int
    prefill_ms: float | None  # generate() to the first new token (the engine's own measure)
    tokens_per_s: float | None
    peak_memory_bytes: int | None

    @property
    def total(self) -> float:
        return sum(getattr(self, stage) for stage in STAGES)


@dataclass
class E2EResult:
    video: str
    model: str
    device: str
    question: str
    frames: int
    visual_tokens: int
    prompt_tokens: int
    load_s: float
    requests: list[RequestTiming]
    answer: str
    environment: dict[str, Any] = field(default_factory=dict)

    def median(self, stage: str) -> float | None:
        """Median over the requests after the first (the first alone when there is one)."""
        warm = self.requests[1:] or self.requests
        values = [getattr(r, stage) for r in warm]
        return statistics.median(values) if values else None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["median"] = {stage: self.median(stage) for stage in (*STAGES, "total")}
        return data


def time_request(pipeline: Any, video: str, question: str, generation: Any) -> tuple[RequestTiming, Any, str]:
    """Run one request through `pipeline` (a `crosslmm_cli.engine.pipeline.VideoPipeline`); returns its timing,
    the answer object (for its stats) and the answer text."""
    clock = time.perf_counter
    started = clock()
    prepared = pipeline.prepare(video)
    decoded = clock()
    encoded = pipeline.encode(prepared)
    _sync(pipeline.engine)
    encoded_at = clock()
    answer = pipeline.engine.answer(encoded, question, generation, subtitles=pipeline.subtitle_lines(prepared))
    prompted = clock()
    first_text = None
    for _chunk in answer:
        if first_text is None:
            first_text = clock()
    finished = clock()
    stats = answer.stats
    generating = finished - prompted
    # The engine stamps the first token itself; text chunks wait for whole words.
    first_token = min(generating, stats.prefill_ms / 1000) if stats.prefill_ms is not None else generating
    timing = RequestTiming(
        decode=decoded - started, encode=encoded_at - decoded, prompt=prompted - encoded_at,
        first_token=first_token, answer=generating - first_token,
        first_text=(first_text or finished) - prompted, new_tokens=stats.new_tokens,
        prefill_ms=stats.prefill_ms, tokens_per_s=stats.tokens_per_s, peak_memory_bytes=stats.peak_memory_bytes,
    )
    return timing, answer, answer.text


def run_e2e_benchmark(
    load_engine: Callable[[], Any],
    make_pipeline: Callable[[Any], Any],
    video: str,
    question: str,
    generation: Any,
    *,
    repeats: int = 3,
    progress: Callable[[str], None] | None = None,
) -> E2EResult:
    """Load once, then `repeats` requests (the first one reported apart)."""
    from .environment import environment

    if repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {repeats}")
    say = progress or (lambda message: None)
    say("loading the model")
    started = time.perf_counter()
    engine = load_engine()
    load_s = time.perf_counter() - started
    pipeline = make_pipeline(engine)
    requests, last = [], None
    for index in range(repeats):
        say(f"request {index + 1} of {repeats}")
        timing, last, text = time_request(pipeline, video, question, generation)
        requests.append(timing)
    stats = last.stats
    return E2EResult(
        video=video, model=engine.name, device=str(engine.device), question=question, frames=stats.frames,
        visual_tokens=stats.visual_tokens, prompt_tokens=stats.prompt_tokens, load_s=load_s,
        requests=requests, answer=text, environment=environment(engine.device),
    )


def _sync(engine: Any) -> None:
    import torch

    if engine.device.type == "cuda":
        torch.cuda.synchronize(engine.device)
