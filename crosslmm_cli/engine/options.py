"""Runtime options as frozen dataclasses: what to sample, how to generate, which model.

The CLI builds these from flags; library callers build them directly. Validation happens here,
once, so every entry point rejects the same bad values with the same message.

`FrameOptions` is what a run asks for (unset fields: the model's default); `FrameOptions.sampling`
resolves it into the video layer's `SamplingOptions`, the one description of which frames to
decode and at what size, which `ask`, `describe`, `chapterize`, `batch`, `eval`, `train` and
`distill` all hand to `video.sample_frames` and key their caches on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crosslmm_cli.checkpoints.devices import check_device, check_quantize
from crosslmm_cli.checkpoints.presets import DEFAULT_FRAMES
from crosslmm_cli.errors import UsageError
from crosslmm_cli.video.options import BACKENDS, DEFAULT_MAX_FRAMES, SamplingOptions

__all__ = ["DEFAULT_FRAMES", "DEFAULT_MAX_FRAMES", "FrameOptions", "GenerationOptions", "ModelOptions", "RunOptions"]


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
        if self.backend not in BACKENDS:
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

    def sampling(self, *, default_frames: int = DEFAULT_FRAMES, frame_size: tuple[int, int] | None = None) -> SamplingOptions:
        """These options as the frames to decode: `default_frames` when neither a count nor a rate is
        given, at most DEFAULT_MAX_FRAMES unless bounded otherwise.

        `frame_size` is the (height, width) the image processor resizes to: frames are decoded with
        their shorter side at its larger value (aspect kept, never upscaled), so they arrive small and
        the checkpoint's own image processor still does the final resize, for every command alike.
        """
        count = self.num_frames if self.num_frames is not None or self.fps is not None else default_frames
        return SamplingOptions(
            num_frames=count, fps=self.fps, start=self.start, end=self.end,
            max_frames=self.max_frames or DEFAULT_MAX_FRAMES, size=max(frame_size) if frame_size else None,
            backend=self.backend,
        )


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
    """Which model and how to place it. `quantize` "auto" (or None) means 4bit on CUDA, none elsewhere."""

    ref: str | None = None
    quantize: str | None = None
    device: str = "auto"
    tokens_per_frame: int | None = None
    threads: int | None = None  # torch CPU threads; None: the tool's default policy

    def __post_init__(self) -> None:
        if self.quantize is not None:
            check_quantize(self.quantize)
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
