"""`crosslmm bench model`: CrossLMM at a few tokens per frame against the full-token baseline.

For each weight precision, frame count and method, one prefill from pixel values runs under the
MAC counter and the memory tracker (it also serves as warm-up); then timed prefills (the median is
reported) and a greedy decoding loop on the cache of the last one. The baseline is the same model
at 196 tokens per frame with bilinear pooling and cross-attention shut: LLaVA-OneVision's way.

A configuration that does not fit (CUDA OOM, the CPU allocator failing, or `memory_limit_bytes`)
becomes a row marked "out of memory", and larger frame counts of that method are not tried.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .flops import MacCounts

if TYPE_CHECKING:
    import torch

DEFAULT_FRAMES = (8, 32, 64, 128, 256)
DEFAULT_TOKENS_PER_FRAME = (1, 9, 16)
BASELINE_TOKENS_PER_FRAME = 196  # LLaVA-OneVision's, for SigLIP's 27x27 grid
BASELINE_FROM_MODEL = "model"
OK, OUT_OF_MEMORY = "ok", "out of memory"


@dataclass(frozen=True)
class Method:
    """How the video enters the LLM: CrossLMM (few tokens + cross-attention) or the full-token baseline."""

    tokens_per_frame: int
    baseline: bool = False

    @property
    def name(self) -> str:
        return f"{'baseline' if self.baseline else 'crosslmm'}-{self.tokens_per_frame}"

    @property
    def label(self) -> str:
        if self.baseline:
            return f"baseline {self.tokens_per_frame}/frame"
        return f"CrossLMM {self.tokens_per_frame}/frame"

    def forward_kwargs(self) -> dict[str, Any]:
        if self.baseline:  # LLaVA-OneVision: bilinear 27->14 pooling, no cross-attention
            return {"tokens_per_frame": self.tokens_per_frame, "cross_attention": [], "pooling": "bilinear"}
        return {"tokens_per_frame": self.tokens_per_frame}


@dataclass(frozen=True)
class ModelBenchOptions:
    """What `crosslmm bench model` measures. `model` is a shape name (random weights) or a checkpoint."""

    model: str = "cpu-small"
    frames: tuple[int, ...] = DEFAULT_FRAMES
    tokens_per_frame: tuple[int, ...] = DEFAULT_TOKENS_PER_FRAME
    #: "model": LLaVA-OneVision's count for the model's encoder (196 for SigLIP's 27x27 grid, fewer for a
    #: smaller encoder: `onevision_tokens_per_frame`), resolved once the config is known; None: no baseline.
    baseline_tokens_per_frame: int | str | None = BASELINE_FROM_MODEL
    weights: tuple[str, ...] = ("16bit", "4bit")
    device: str = "auto"
    text_tokens: int = 64  # prompt tokens besides the video (system prompt, question)
    repeats: int = 3  # timed prefills at most...
    min_repeat_time_s: float = 2.0  # ...but stop repeating once this much time went into them
    decode_tokens: int = 16
    memory_limit_bytes: int | None = None
    kv_tokens_per_frame: int | None = None  # shape presets only: override the config's
    kv_dtype: str | None = None  # shape presets only: cross_attention_kv_dtype
    seed: int = 0

    def methods(self) -> list[Method]:
        if self.baseline_tokens_per_frame == BASELINE_FROM_MODEL:
            raise ValueError("the baseline's tokens per frame are not resolved yet (see with_baseline_for)")
        methods = [Method(t) for t in self.tokens_per_frame]
        if self.baseline_tokens_per_frame is not None:
            methods.append(Method(self.baseline_tokens_per_frame, baseline=True))
        return methods

    def with_baseline_for(self, config: Any) -> ModelBenchOptions:
        """These options with a baseline of "model" resolved for `config`'s encoder."""
        if self.baseline_tokens_per_frame != BASELINE_FROM_MODEL:
            return self
        from crosslmm_cli.checkpoints.convert import onevision_tokens_per_frame

        return replace(self, baseline_tokens_per_frame=onevision_tokens_per_frame(config))


@dataclass
class ModelBenchRow:
    """One (weights, frames, method) measurement. Bytes are exact tensor bytes; times in ms."""

    weights: str
    method: str
    frames: int
    tokens_per_frame: int
    prompt_tokens: int
    status: str = OK
    macs: MacCounts | None = None
    weight_bytes: int = 0
    input_bytes: int = 0
    peak_bytes: int | None = None  # the prefill's own peak, over weights and inputs
    cross_attention_kv_bytes: int | None = None  # T2V keys/values kept in the cache for decoding
    prefill_ms: float | None = None  # median of the timed runs
    prefill_runs_ms: list[float] = field(default_factory=list)
    decode_tokens_per_s: float | None = None
    note: str = ""

    @property
    def activation_bytes(self) -> int | None:
        """Peak above the weights: inputs plus everything the prefill allocates."""
        return None if self.peak_bytes is None else self.input_bytes + self.peak_bytes

    @property
    def total_bytes(self) -> int | None:
        return None if self.peak_bytes is None else self.weight_bytes + self.activation_bytes

    def as_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weights, "method": self.method, "frames": self.frames,
            "tokens_per_frame": self.tokens_per_frame, "prompt_tokens": self.prompt_tokens, "status": self.status,
            "macs": self.macs.as_dict() if self.macs else None,
            "weight_bytes": self.weight_bytes, "input_bytes": self.input_bytes, "peak_bytes": self.peak_bytes,
            "activation_bytes": self.activation_bytes, "total_bytes": self.total_bytes,
            "cross_attention_kv_bytes": self.cross_attention_kv_bytes,
            "prefill_ms": self.prefill_ms, "prefill_runs_ms": self.prefill_runs_ms,
            "decode_tokens_per_s": self.decode_tokens_per_s, "note": self.note,
        }


def _sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _release(device: torch.device, collect: bool = False) -> None:
    """Hand freed memory back between configurations. Tensors die with their last reference (no
    cycles hold them), so the slow full garbage collection runs only after errors and between models."""
    import torch

    if collect:
        gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


class _Case:
    """Inputs of one (frames, method) prefill and the calls that measure it."""

    def __init__(self, model, method: Method, frames: int, text_tokens: int, seed: int):
        import torch

        config = model.config
        self.model, self.method, self.frames = model, method, frames
        self.device = model.device
        dtype = model.get_input_embeddings().weight.dtype
        generator = torch.Generator().manual_seed(seed)
        video = config.video_placeholder_length(frames, method.tokens_per_frame)
        vocab = config.text_config.vocab_size
        text = torch.randint(0, vocab, (text_tokens,), generator=generator)
        text[text == config.video_token_id] = 0
        split = min(14, text_tokens)  # system prompt before the video, the question after it
        ids = torch.cat([text[:split], torch.full((video,), config.video_token_id), text[split:]])
        self.input_ids = ids[None].to(self.device)
        size = config.vision_image_size
        self.pixels = torch.randn(1, frames, 3, size, size, generator=generator).to(self.device, dtype)
        self.input_bytes = self.pixels.numel() * self.pixels.element_size() + self.input_ids.numel() * 8

    def prefill(self):
        import torch

        with torch.no_grad():  # as generate() runs (inference_mode would hand composite ops to the counter undecomposed)
            return self.model(input_ids=self.input_ids, pixel_values_videos=self.pixels, use_cache=True,
                              logits_to_keep=1, **self.method.forward_kwargs())

    def decode(self, output, steps: int) -> float:
        """Greedy decoding `steps` tokens on the prefill's cache; tokens per second."""
        import torch

        from crosslmm_cli.modeling.cache import CACHE_KWARG

        cache, token = getattr(output, CACHE_KWARG), output.logits[:, -1:].argmax(-1)
        _sync(self.device)
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(steps):
                out = self.model(input_ids=token, past_key_values=cache, use_cache=True, **self.method.forward_kwargs())
                token = out.logits[:, -1:].argmax(-1)
        _sync(self.device)
        return steps / (time.perf_counter() - start)


def measure_case(case: _Case, row: ModelBenchRow, options: ModelBenchOptions) -> None:
    """Fill `row` from one counted+tracked prefill, the timed prefills and a decoding loop."""
    from crosslmm_cli.modeling.cache import CACHE_KWARG

    from .flops import MacCounter
    from .peak_memory import measure_peak

    base = row.weight_bytes + case.input_bytes
    # The tracker innermost: it must see the ops the model runs, not FlopCounterMode's decompositions of them.
    with MacCounter(case.model) as counter, measure_peak(case.device, options.memory_limit_bytes, base_bytes=base) as peak:
        output = case.prefill()
    row.macs, row.peak_bytes = counter.counts, peak.peak_bytes
    cache = getattr(output, CACHE_KWARG)
    row.cross_attention_kv_bytes = getattr(cache, "cross_attention_nbytes", 0)
    del output, cache
    _release(case.device)

    spent, runs = 0.0, []
    while len(runs) < max(1, options.repeats) and (not runs or spent < options.min_repeat_time_s):
        output = None  # free the previous run's cache before the next one allocates its own
        _sync(case.device)
        start = time.perf_counter()
        output = case.prefill()
        _sync(case.device)
        runs.append((time.perf_counter() - start) * 1e3)
        spent += runs[-1] / 1e3
    row.prefill_runs_ms = [round(ms, 2) for ms in runs]
    row.prefill_ms = statistics.median(runs)
    if options.decode_tokens > 0:
        row.decode_tokens_per_s = case.decode(output, options.decode_tokens)


def iter_model_rows(
    options: ModelBenchOptions, build_model: Callable[[str], Any], progress: Callable[[str], None] | None = None
) -> Iterator[ModelBenchRow]:
    """Rows in order (weights, frames, method). `build_model(weights)` returns the model to measure."""
    from .peak_memory import is_out_of_memory, weight_bytes

    for weights in options.weights:
        if progress:
            progress(f"building the {weights} model")
        model = build_model(weights)
        wbytes = weight_bytes(model)
        too_big: dict[str, int] = {}  # method -> smallest frame count that did not fit
        for frames in options.frames:
            for method in options.methods():
                prompt = options.text_tokens + model.config.video_placeholder_length(frames, method.tokens_per_frame)
                row = ModelBenchRow(weights, method.name, frames, method.tokens_per_frame, prompt, weight_bytes=wbytes)
                if method.name in too_big:
                    row.status, row.note = OUT_OF_MEMORY, f"not run: {too_big[method.name]} frames did not fit"
                    yield row
                    continue
                if progress:
                    progress(f"{weights} {method.label} {frames} frames")
                case = None
                try:
                    case = _Case(model, method, frames, options.text_tokens, options.seed)
                    row.input_bytes = case.input_bytes
                    measure_case(case, row, options)
                except Exception as error:  # noqa: BLE001 - only out-of-memory is expected; re-raised otherwise
                    if not is_out_of_memory(error):
                        raise
                    row.status, row.note = OUT_OF_MEMORY, str(error).splitlines()[0][:120]
                    row.peak_bytes = row.prefill_ms = row.decode_tokens_per_s = None
                    too_big[method.name] = frames
                finally:
                    del case
                    _release(model.device, collect=row.status != OK)  # the error's frames held tensors
                yield row
        del model
        _release(_device_of(options), collect=True)


def _device_of(options: ModelBenchOptions) -> torch.device:
    from crosslmm_cli.checkpoints.devices import resolve_device

    return resolve_device(options.device)


@dataclass
class ModelBenchResult:
    """Everything `crosslmm bench model` reports: what ran, where, and the rows."""

    options: ModelBenchOptions
    model: str  # shape name or checkpoint path
    shape: dict[str, Any]  # the dimensions that set the cost (see `shape_summary`)
    device: str
    environment: dict[str, Any]
    rows: list[ModelBenchRow]
    seconds: float = 0.0

    def row(self, weights: str, method: str, frames: int) -> ModelBenchRow | None:
        return next((r for r in self.rows if (r.weights, r.method, r.frames) == (weights, method, frames)), None)

    def as_dict(self) -> dict[str, Any]:
        options = {k: list(v) if isinstance(v, tuple) else v for k, v in self.options.__dict__.items()}
        return {"model": self.model, "shape": self.shape, "device": self.device, "options": options,
                "environment": self.environment, "seconds": round(self.seconds, 1),
                "rows": [r.as_dict() for r in self.rows]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelBenchResult:
        """The inverse of `as_dict` (a saved run, to show or plot again)."""
        options = ModelBenchOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in data["options"].items()})
        rows = []
        for item in data["rows"]:
            fields = {k: v for k, v in item.items() if k in ModelBenchRow.__dataclass_fields__}
            if fields.get("macs"):
                fields["macs"] = MacCounts(**{k: v for k, v in fields["macs"].items() if k != "total"})
            rows.append(ModelBenchRow(**fields))
        return cls(options, data["model"], data["shape"], data["device"], data["environment"], rows, data.get("seconds", 0.0))


def shape_summary(config) -> dict[str, Any]:
    """The dimensions that set a CrossLMM model's cost, for the report."""
    vision, text = config.vision_config, config.text_config
    return {
        "vision": {"layers": config.num_encoder_layers_used, "hidden": vision.hidden_size,
                   "intermediate": vision.intermediate_size, "heads": vision.num_attention_heads,
                   "image_size": config.vision_image_size, "patch_size": vision.patch_size,
                   "tokens_per_frame": config.vision_grid_side**2},
        "llm": {"layers": text.num_hidden_layers, "hidden": text.hidden_size, "intermediate": text.intermediate_size,
                "heads": text.num_attention_heads, "kv_heads": text.num_key_value_heads, "vocab": text.vocab_size},
        "cross_attention_layers": list(config.cross_attention_layers),
        "kv_tokens_per_frame": config.kv_grid_side**2,
        "kv_dtype": config.cross_attention_kv_dtype,
        "vision_chunk_size": config.vision_chunk_size,
    }


def run_model_benchmark(options: ModelBenchOptions, progress: Callable[[str], None] | None = None,
                        on_row: Callable[[ModelBenchRow], None] | None = None) -> ModelBenchResult:
    """Run the whole benchmark; `on_row` sees each row as soon as it is measured."""
    from crosslmm_cli.checkpoints.devices import resolve_device

    from .build import is_shape_name, load_checkpoint_model, random_model, shape_config
    from .environment import environment, load_average

    check_options(options)
    device = resolve_device(options.device)
    configs: list[Any] = []
    if is_shape_name(options.model):
        config = shape_config(options.model, kv_tokens_per_frame=options.kv_tokens_per_frame,
                              cross_attention_kv_dtype=options.kv_dtype)
        options = options.with_baseline_for(config)
        check_tokens_fit(options, config)

        def build(weights: str):
            configs.append(config)
            return random_model(config, weights, device, seed=options.seed)
    else:
        if options.kv_tokens_per_frame is not None or options.kv_dtype is not None:
            raise ValueError("--kv-tokens-per-frame and --kv-dtype apply to shape presets, not to checkpoints")
        from crosslmm_cli.checkpoints.loader import checkpoint_config, open_checkpoint

        options = options.with_baseline_for(checkpoint_config(*open_checkpoint(options.model)))

        def build(weights: str):
            model = load_checkpoint_model(options.model, weights, str(device))
            check_tokens_fit(options, model.config)
            configs.append(model.config)
            return model

    started = time.perf_counter()
    rows: list[ModelBenchRow] = []
    env = environment(device)
    for row in iter_model_rows(options, build, progress):
        rows.append(row)
        if on_row:
            on_row(row)
    env["load_average_end"] = load_average()
    shape = shape_summary(configs[0]) if configs else {}
    return ModelBenchResult(options, options.model, shape, str(device), env, rows, time.perf_counter() - started)


def check_tokens_fit(options: ModelBenchOptions, config) -> None:
    grid = config.vision_grid_side**2
    baseline = options.baseline_tokens_per_frame
    largest = max((*options.tokens_per_frame, baseline if isinstance(baseline, int) else 1))
    if largest > grid:
        raise ValueError(f"{largest} tokens per frame exceed this model's {grid} encoder tokens per frame")


def check_options(options: ModelBenchOptions) -> None:
    """Bad values raise ValueError naming the option (the CLI prints it as one line)."""
    from .build import WEIGHT_CHOICES

    if not options.frames or any(f < 1 for f in options.frames):
        raise ValueError(f"--frames must be positive integers, got {list(options.frames)}")
    baseline = options.baseline_tokens_per_frame
    if isinstance(baseline, str) and baseline != BASELINE_FROM_MODEL:
        raise ValueError(f"the baseline's tokens per frame must be a number or {BASELINE_FROM_MODEL!r}, got {baseline!r}")
    for tpf in (*options.tokens_per_frame, baseline if isinstance(baseline, int) else 1):
        side = int(round(tpf**0.5))
        if tpf < 1 or side * side != tpf:
            raise ValueError(f"tokens per frame must be perfect squares (1, 4, 9, 16, ..., 196), got {tpf}")
    for weights in options.weights:
        if weights not in WEIGHT_CHOICES:
            raise ValueError(f"--weights must be among {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
    if options.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {options.repeats}")
    if options.text_tokens < 0 or options.decode_tokens < 0:
        raise ValueError("--text-tokens and --decode-tokens must be >= 0")
