"""Several greedy answers in one `generate()` call, each row streamed and stopped on its own.

A server answering four requests at once on a small model spends most of each decoding step in
Python, not arithmetic, so one call for four rows costs little more than one call for one: this is
where its throughput comes from. Rows are prompts about videos with the same number of frames and
the same tokens per frame; their prompts are left-padded together and their features stacked
(B, T, N, D_v). Each row ends at a stop token, at its own `max_new_tokens`, or at the next token once
`cancelled()` says so; the call ends when every row has.

Only greedy rows are batched: greedy decoding of a left-padded batch gives each row what decoding it
alone gives (tests/serve/test_batched_answers.py), while sampled rows would share one random stream
and lose their seeds. A batch of one goes through `Engine.answer` instead, the CLI's own path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer
from transformers.generation.streamers import BaseStreamer

from crosslmm_cli.engine.inference import (EncodedVideo, Engine, GenerationStats, generate_kwargs, peak_memory_bytes,
                                          visible_chunk)
from crosslmm_cli.engine.options import GenerationOptions


@dataclass
class Row:
    """One answer of a batch: its prompt (`Engine.prompt`), its video, where its text goes."""

    encoded: EncodedVideo
    prompt: str
    max_new_tokens: int
    on_text: Callable[[str], None]
    cancelled: Callable[[], bool] = lambda: False  # True: stop at the next token (its consumer went away)
    stats: GenerationStats | None = None  # filled once the row has ended


def batch_key(engine: Engine, encoded: EncodedVideo, options: GenerationOptions) -> tuple[int, int] | None:
    """Rows with equal keys can share a call: (tokens per frame, frames); None for a sampled answer."""
    return None if options.do_sample else (engine.tokens_per_frame, encoded.num_frames)


@torch.inference_mode()
def answer_rows(engine: Engine, rows: Sequence[Row]) -> None:
    """Generate every row's answer in one call, in this thread: `row.on_text` gets its text as decoded,
    `row.stats` is set at the end. All rows need the same `batch_key` (greedy)."""
    frames = {row.encoded.num_frames for row in rows}
    if len(frames) != 1:
        raise ValueError(f"rows of one batch need the same number of frames, got {sorted(frames)}")
    inputs = engine.processor(text=[row.prompt for row in rows], num_frames=frames.pop())
    inputs = {name: tensor.to(engine.device) for name, tensor in inputs.items()}
    kwargs = generate_kwargs(engine, GenerationOptions(max_new_tokens=max(row.max_new_tokens for row in rows)))
    streamer = _RowsStreamer(engine, rows, _stop_ids(engine, kwargs), inputs["attention_mask"].sum(dim=1).tolist())
    try:
        engine.model.generate(
            **inputs,
            video_features=torch.stack([row.encoded.features for row in rows]),
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([_RowsDone(streamer)]),
            **kwargs,
        )
    finally:
        streamer.end()


def _stop_ids(engine: Engine, kwargs: dict[str, Any]) -> set[int]:
    stops = kwargs.get("eos_token_id", getattr(engine.model.generation_config, "eos_token_id", None))
    if stops is None:
        return set()
    return {int(stops)} if isinstance(stops, int) else {int(s) for s in stops}


class _RowText(TextStreamer):
    """transformers' incremental detokenizer for one row (whole words, no special tokens), into `on_text`."""

    def __init__(self, tokenizer: Any, on_text: Callable[[str], None]) -> None:
        super().__init__(tokenizer, skip_prompt=False, skip_special_tokens=True)
        self._on_text = on_text
        self._started = False

    def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
        text = visible_chunk(text, started=self._started)
        if text:
            self._started = True
            self._on_text(text)


class _RowsStreamer(BaseStreamer):
    """Receives each step's (B,) new tokens from generate(); routes them to the rows still running."""

    def __init__(self, engine: Engine, rows: Sequence[Row], stop_ids: set[int], prompt_tokens: list[int]) -> None:
        self.engine = engine
        self.rows = rows
        self.stop_ids = stop_ids
        self.texts = [_RowText(engine.processor.tokenizer, row.on_text) for row in rows]
        self.counts = [0] * len(rows)
        self.done = [False] * len(rows)
        self.prompt_tokens = prompt_tokens
        self.started = time.perf_counter()
        self.first_at: float | None = None
        self.last_at = [0.0] * len(rows)
        self._seen_prompt = False
        self._ended = False

    def put(self, value: torch.Tensor) -> None:
        if not self._seen_prompt:  # the first call carries the prompts
            self._seen_prompt = True
            return
        now = time.perf_counter()
        self.first_at = self.first_at or now
        for index, token in enumerate(value.reshape(len(self.rows)).tolist()):
            if self.done[index]:
                continue  # generate() pads finished rows
            self.counts[index] += 1
            self.last_at[index] = now
            self.texts[index].put(torch.tensor([token]))
            if token in self.stop_ids or self.counts[index] >= self.rows[index].max_new_tokens:
                self._finish(index)

    def cancel_requested(self) -> list[bool]:
        """Per row: stop now (ended, or its consumer went away)."""
        for index, row in enumerate(self.rows):
            if not self.done[index] and row.cancelled():
                self._finish(index)
        return list(self.done)

    def end(self) -> None:
        if not self._ended:
            self._ended = True
            for index in range(len(self.rows)):
                if not self.done[index]:
                    self._finish(index)

    def _finish(self, index: int) -> None:
        self.done[index] = True
        self.texts[index].end()
        row = self.rows[index]
        stats = self.engine.new_stats(row.encoded, int(self.prompt_tokens[index]))
        stats.new_tokens = self.counts[index]
        if self.first_at is not None and self.counts[index]:
            stats.prefill_ms = (self.first_at - self.started) * 1000
            if self.counts[index] > 1 and self.last_at[index] > self.first_at:
                stats.tokens_per_s = (self.counts[index] - 1) / (self.last_at[index] - self.first_at)
        stats.peak_memory_bytes = peak_memory_bytes(self.engine.device.type)
        row.stats = stats


class _RowsDone(StoppingCriteria):
    """Marks rows finished (stop token, own length, cancelled); generate() stops when all are."""

    def __init__(self, streamer: _RowsStreamer) -> None:
        self.streamer = streamer

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return torch.tensor(self.streamer.cancel_requested(), dtype=torch.bool, device=input_ids.device)
