"""Runtime options as frozen dataclasses: what to sample, how to generate, which model.

The CLI builds these from flags; library callers build them directly. Validation happens here,
once, so every entry point rejects the same bad values with the same message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crosslmm_cli.checkpoints.devices import check_device
from crosslmm_cli.errors import UsageError

DEFAULT_MAX_FRAMES = 64


@dataclass(frozen=True)
class FrameOptions:
    """Which frames to sample. `num_frames` and `fps` exclude each other; neither means the model's default."""

    num_frames: int | None = None
    fps: float | None = None
    max_frames: int | None = None  # None: DEFAULT_MAX_FRAMES (or the task's own bound)
    start: float | None = None
    end: float | None = None
    backend: str = "auto"  # video decoder: auto (decord where reliable, else ffmpeg), decord or ffmpeg

    def __post_init__(self) -> None:
        if self.backend not in ("auto", "decord", "ffmpeg"):
            raise UsageError(f"--backend must be auto, decord or ffmpeg, not {self.backend!r}")
        if self.num_frames is not None and self.fps is not None:
            raise UsageError("--frames and --fps exclude each other")
        if self.num_frames is not None and self.num_frames < 1:
            raise UsageError(f"--frames must be >= 1, not {self.num_frames}")
        if self.fps is not None and not self.fps > 0:
            raise UsageError(f"--fps must be > 0, not {self.fps}")
        if self.max_frames is not None and self.max_frames < 1:
            raise UsageError(f"--max-frames must be >= 1, not {self.max_frames}")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise UsageError(f"--end ({self.end:g} s) must come after --start ({self.start:g} s)")


@dataclass(frozen=True)
class GenerationOptions:
    """Decoding. temperature 0 is greedy; with a seed, sampling is reproducible."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise UsageError(f"--max-new-tokens must be >= 1, not {self.max_new_tokens}")
        if not self.temperature >= 0:
            raise UsageError(f"--temperature must be >= 0, not {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UsageError(f"--top-p must be in (0, 1], not {self.top_p}")

    @property
    def do_sample(self) -> bool:
        return self.temperature > 0


@dataclass(frozen=True)
class ModelOptions:
    """Which model and how to place it. `quantize=None` means 4bit on CUDA, none elsewhere."""

    ref: str | None = None
    quantize: str | None = None
    device: str = "auto"
    tokens_per_frame: int | None = None
    threads: int | None = None  # torch CPU threads; None: the tool's default policy

    def __post_init__(self) -> None:
        if self.quantize not in (None, "4bit", "8bit", "none"):
            raise UsageError(f"--quantize must be 4bit, 8bit or none, not {self.quantize!r}")
        check_device(self.device)
        if self.threads is not None and self.threads < 1:
            raise UsageError(f"--threads must be >= 1, not {self.threads}")
        if self.tokens_per_frame is not None and self.tokens_per_frame < 1:
            raise UsageError(f"--tokens-per-frame must be >= 1, not {self.tokens_per_frame}")


@dataclass(frozen=True)
class RunOptions:
    """Everything a task needs besides its inputs: model, frames, generation, subtitles, cache."""

    model: ModelOptions = field(default_factory=ModelOptions)
    frames: FrameOptions = field(default_factory=FrameOptions)
    generation: GenerationOptions = field(default_factory=GenerationOptions)
    subtitles: str = "auto"  # "auto" | "off" | a .srt/.vtt path
    use_cache: bool = True
    verbosity: int = 0  # -1 quiet, 0 normal, 1 verbose
