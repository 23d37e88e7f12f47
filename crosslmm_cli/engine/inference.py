"""The inference engine: load a model once, encode a video once, answer many questions about it.

`Engine.encode(frames)` runs the vision encoder and returns an `EncodedVideo` (features
(T, N, D_v), timestamps, duration): the thing the feature cache stores and every question reuses.
`Engine.answer(encoded, question, options)` returns an `Answer`, an iterator of text chunks as
they are generated: the terminal renderer, the JSON writer and the tests all consume the same
iterator. Generation runs in a worker thread (transformers' streamer protocol); closing the
iterator early (Ctrl-C, a consumer that stops) stops generation at the next token.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

from crosslmm_cli.engine.encoding import encode_frames
from crosslmm_cli.engine.options import DEFAULT_FRAMES, GenerationOptions, ModelOptions
from crosslmm_cli.errors import CrossLMMError, ModelLoadError, UsageError
from crosslmm_cli.modeling.prompting import Subtitle, Turn
from crosslmm_cli.units import format_bytes


@dataclass(frozen=True)
class EncodedVideo:
    """A video as the model sees it, before any question: encoder features and when each frame was."""

    features: torch.Tensor  # (T, N, D_v) vision encoder features, on the model's device
    timestamps: np.ndarray  # (T,) seconds of each sampled frame
    duration: float  # seconds, the whole video
    segment: tuple[float, float] | None = None  # the (start, end) sampled from, if not the whole video

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[0])

    def select(self, indices: Sequence[int]) -> EncodedVideo:
        """A subset of the frames (e.g. one chapter's), sharing the features' storage where it can."""
        index = list(indices)
        if not index:
            raise ValueError("select() needs at least one frame")
        rows = torch.as_tensor(index, device=self.features.device)
        return replace(self, features=self.features.index_select(0, rows), timestamps=self.timestamps[index])


@dataclass
class GenerationStats:
    """What `--verbose` reports about one answer."""

    frames: int
    visual_tokens: int
    prompt_tokens: int
    new_tokens: int = 0
    prefill_ms: float | None = None  # from calling generate() to the first new token
    tokens_per_s: float | None = None  # decoding speed after the first token
    peak_memory_bytes: int | None = None

    def describe(self) -> str:
        parts = [f"frames {self.frames}", f"visual tokens {self.visual_tokens}", f"prompt tokens {self.prompt_tokens}"]
        if self.prefill_ms is not None:
            parts.append(f"prefill {self.prefill_ms:.0f} ms")
        if self.tokens_per_s is not None:
            parts.append(f"{self.tokens_per_s:.1f} tokens/s")
        parts.append(f"{self.new_tokens} new tokens")
        if self.peak_memory_bytes is not None:
            parts.append(f"peak memory {format_bytes(self.peak_memory_bytes)}")
        return ", ".join(parts)


def peak_memory_bytes(device: str) -> int:
    """Peak accelerator memory on CUDA; peak resident memory of this process elsewhere."""
    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated())
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


class Engine:
    """One loaded model and its processor."""

    def __init__(self, model: Any, processor: Any, *, name: str, fingerprint: str, default_frames: int = DEFAULT_FRAMES) -> None:
        self.model = model
        self.processor = processor
        self.name = name  # what records call the model (preset name, directory or hub id)
        self.fingerprint = fingerprint  # identity for the feature cache
        self.default_frames = default_frames

    @classmethod
    def load(cls, location: str, options: ModelOptions, *, name: str | None = None, default_frames: int = DEFAULT_FRAMES) -> Engine:
        """Load `location` (a checkpoint directory or hub id) with `options`; failures are ModelLoadError (exit 3)."""
        from crosslmm_cli.checkpoints.loader import load_model

        try:
            model, processor = load_model(
                location, quantize=options.quantize or "auto", device=options.device, tokens_per_frame=options.tokens_per_frame
            )
        except CrossLMMError:
            raise
        except Exception as exc:  # noqa: BLE001 - any load failure is "model could not be loaded"
            cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelLoadError(f"cannot load model {name or location!r}: {cause}") from exc
        loaded = model.loaded  # what load_model resolved: local path, device, dtype, quantization
        fingerprint = model_fingerprint(str(loaded.path), quantize=loaded.quantize, dtype=loaded.dtype)
        # The checkpoint's own default comes first (a hub download's is known only once it is here).
        return cls(model, processor, name=name or location, fingerprint=fingerprint,
                   default_frames=processor.num_frames or default_frames)

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def tokens_per_frame(self) -> int:
        return int(self.processor.tokens_per_frame)

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """(height, width) the image processor resizes frames to, so decoders can scale down early."""
        return self.processor.image_processor.output_size

    def release_memory(self) -> None:
        """Return cached accelerator memory (before retrying an input that ran out of it)."""
        import gc

        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def visual_tokens(self, num_frames: int) -> int:
        return int(self.processor.num_video_tokens(num_frames))

    @torch.inference_mode()
    def encode(self, frames: np.ndarray, timestamps: Sequence[float], duration: float,
               segment: tuple[float, float] | None = None) -> EncodedVideo:
        """uint8 frames (T, H, W, 3) -> EncodedVideo with features (T, N, D_v) on the model's device."""
        features = encode_frames(self.model, self.processor, frames)
        return EncodedVideo(features, np.asarray(timestamps, dtype=np.float64), float(duration), segment)

    def from_features(self, features: torch.Tensor, timestamps: Sequence[float], duration: float,
                      segment: tuple[float, float] | None = None) -> EncodedVideo:
        """An EncodedVideo from cached features (moved to the model's device)."""
        return EncodedVideo(features.to(self.device), np.asarray(timestamps, dtype=np.float64), float(duration), segment)

    @torch.inference_mode()
    def frame_embeddings(self, encoded: EncodedVideo) -> np.ndarray:
        """One vector per frame, (T, D_v): the mean of its patch features (for chapter boundaries)."""
        return encoded.features.float().mean(dim=1).cpu().numpy()

    def with_tokens_per_frame(self, tokens_per_frame: int | None) -> Engine:
        """The same weights showing the LLM `tokens_per_frame` tokens per frame (a per-call switch of the
        model, so a server can honour it per request); self when unchanged. A bad count is a UsageError."""
        import copy

        from crosslmm_cli.modeling.configuration import square_side

        if tokens_per_frame is None or tokens_per_frame == self.tokens_per_frame:
            return self
        grid = self.model.config.vision_grid_side
        try:
            side = square_side(int(tokens_per_frame), "tokens_per_frame")
        except ValueError:
            side = None
        if side is None or side > grid:
            raise UsageError(f"--tokens-per-frame must be a square number of at most {grid * grid}, not {tokens_per_frame}")
        processor = copy.copy(self.processor)  # shares the tokenizer and image processor
        processor.tokens_per_frame = int(tokens_per_frame)
        return Engine(self.model, processor, name=self.name, fingerprint=self.fingerprint, default_frames=self.default_frames)

    def prompt(self, encoded: EncodedVideo, question: str, *, history: Sequence[Turn] = (),
               subtitles: Sequence[Subtitle] | None = None, system: str | None = None) -> str:
        """The templated prompt for `question` about `encoded` (frame times, duration, segment, subtitles, history)."""
        return self.processor.build_prompt(
            question,
            timestamps=[float(t) for t in encoded.timestamps],
            duration=encoded.duration,
            subtitles=list(subtitles) if subtitles else None,
            history=list(history) or None,
            system=system,
            segment=encoded.segment,
        )

    def answer(
        self,
        encoded: EncodedVideo,
        question: str,
        options: GenerationOptions = GenerationOptions(),
        *,
        history: Sequence[Turn] = (),
        subtitles: Sequence[Subtitle] | None = None,
        system: str | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Answer:
        """Start answering `question` about `encoded`; iterate the result for text chunks. Generation
        stops at the next token once the result is closed, or once `cancelled()` says so."""
        prompt = self.prompt(encoded, question, history=history, subtitles=subtitles, system=system)
        inputs = self.processor(text=prompt, num_frames=encoded.num_frames)
        stats = self.new_stats(encoded, int(inputs["input_ids"].shape[1]))
        return Answer(self, inputs, encoded, options, stats, cancelled=cancelled)

    def new_stats(self, encoded: EncodedVideo, prompt_tokens: int) -> GenerationStats:
        """The statistics of one answer before it starts: frames, visual and prompt tokens."""
        return GenerationStats(frames=encoded.num_frames, visual_tokens=self.visual_tokens(encoded.num_frames),
                               prompt_tokens=prompt_tokens)


class Answer(Iterator[str]):
    """Text chunks of one answer as they are generated; `.text` and `.stats` once exhausted."""

    def __init__(self, engine: Engine, inputs: Any, encoded: EncodedVideo, options: GenerationOptions,
                 stats: GenerationStats, *, cancelled: Callable[[], bool] | None = None) -> None:
        self._engine = engine
        self._cancelled = cancelled
        self._inputs = inputs
        self._encoded = encoded
        self._options = options
        self.stats = stats
        self.text = ""
        self._chunks = self._generate()

    def __next__(self) -> str:
        return next(self._chunks)

    def close(self) -> None:
        """Stop generating (the worker thread ends at its next token)."""
        self._chunks.close()

    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _generate(self) -> Iterator[str]:
        engine, options = self._engine, self._options
        stop = threading.Event()
        streamer = _TimedStreamer(engine.processor.tokenizer)
        kwargs = generate_kwargs(engine, options)
        inputs = {name: tensor.to(engine.device) for name, tensor in self._inputs.items()}
        failure: list[BaseException] = []

        def work() -> None:
            try:
                with torch.inference_mode():
                    engine.model.generate(
                        **inputs,
                        video_features=self._encoded.features[None],
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_StopWhenAsked(stop, self._cancelled)]),
                        **kwargs,
                    )
            except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer's thread
                failure.append(exc)
            finally:
                streamer.end()

        if options.seed is not None:
            torch.manual_seed(options.seed)  # also seeds CUDA; same seed and input, same output
        if engine.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        worker = threading.Thread(target=work, name="crosslmm-generate", daemon=True)
        streamer.started = time.perf_counter()
        try:
            with _ctrl_c_held():
                worker.start()
            for chunk in streamer:
                chunk = visible_chunk(chunk, started=bool(self.text))
                if chunk:
                    self.text += chunk
                    yield chunk
        finally:
            stop.set()
            if worker.ident is not None:  # started: never leave it running into interpreter shutdown
                worker.join()
            self._finish_stats(streamer)
        if failure:
            raise failure[0]

    def _finish_stats(self, streamer: _TimedStreamer) -> None:
        stats = self.stats
        stats.new_tokens = streamer.new_tokens
        if streamer.first_token_at is not None:
            stats.prefill_ms = (streamer.first_token_at - streamer.started) * 1000
            if streamer.new_tokens > 1 and streamer.last_token_at > streamer.first_token_at:
                stats.tokens_per_s = (streamer.new_tokens - 1) / (streamer.last_token_at - streamer.first_token_at)
        stats.peak_memory_bytes = peak_memory_bytes(self._engine.device.type)


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Hold SIGINT while a thread starts, so Ctrl-C lands either before it exists or once the code
    that joins it is in place. (A generation thread still running at interpreter shutdown dies
    inside torch's C++ frames, and the process aborts instead of exiting with 130.)"""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def generate_kwargs(engine: Engine, options: GenerationOptions) -> dict[str, Any]:
    """The tool's greedy settings (shared with eval: stop tokens, no video placeholder in answers), or
    sampling; and the tokens per frame when `engine` is a `with_tokens_per_frame` view."""
    from crosslmm_cli.engine.generation import greedy_kwargs

    kwargs = greedy_kwargs(engine.model, engine.processor, options.max_new_tokens)
    if options.do_sample:
        kwargs.update(do_sample=True, temperature=options.temperature, top_p=options.top_p, top_k=None)
    if engine.tokens_per_frame != engine.model.config.tokens_per_frame:
        kwargs["tokens_per_frame"] = engine.tokens_per_frame
    return kwargs


def visible_chunk(chunk: str, *, started: bool) -> str:
    """What of a streamed chunk an answer shows: it starts at its first visible character (a
    model's first token often carries a space, " corner"), as the stored, stripped text does, so
    a streamed answer, a batched one and a record print alike."""
    return chunk if started else chunk.lstrip()


class _TimedStreamer(TextIteratorStreamer):
    """transformers' TextIteratorStreamer that also notes when tokens arrive (for prefill ms, tokens/s)."""

    def __init__(self, tokenizer: Any) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.started = time.perf_counter()
        self.first_token_at: float | None = None
        self.last_token_at = 0.0
        self.new_tokens = 0
        self._seen_prompt = False

    def put(self, value: torch.Tensor) -> None:
        if self._seen_prompt:  # the first call carries the prompt
            now = time.perf_counter()
            self.first_token_at = self.first_token_at or now
            self.last_token_at = now
            self.new_tokens += int(value.numel())
        self._seen_prompt = True
        super().put(value)


class _StopWhenAsked(StoppingCriteria):
    """Ends generation at the next token once `event` is set (the consumer stopped reading) or `cancelled()` is true."""

    def __init__(self, event: threading.Event, cancelled: Callable[[], bool] | None = None) -> None:
        self.event = event
        self.cancelled = cancelled

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        stop = self.event.is_set() or (self.cancelled is not None and self.cancelled())
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


def model_fingerprint(location: str, *, quantize: str, dtype: str) -> str:
    """Identity of the weights for the feature cache: config and weight files (name, size, mtime), dtype, quantization."""
    parts: dict[str, Any] = {"location": location, "quantize": quantize, "dtype": dtype}
    path = Path(location)
    if path.is_dir():
        parts["location"] = str(path.resolve())
        files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".safetensors"))
        parts["files"] = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


__all__ = ["Answer", "Engine", "EncodedVideo", "GenerationStats"]
