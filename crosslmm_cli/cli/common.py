"""What every model-running command shares: its options, its consoles, loading the model once.

`with_run_options` adds the common flags (model, frames, generation, subtitles, cache,
verbosity) to a command's signature and hands the command one `RunOptions`, so the flags are
declared once instead of in five signatures. `Session` turns those options into a loaded engine
and a `VideoPipeline`, printing notes (never answers) to stderr.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from crosslmm_cli.checkpoints.settings import DEMO_MODEL, Settings, cache_dir, choose_model, load_settings
from crosslmm_cli.cli.options import FRAMES, GENERATION, MODEL, OUTPUT, Device, Quantize, Quiet, Threads, placement
from crosslmm_cli.cli.reporting import set_verbosity
from crosslmm_cli.cli.terminal import stderr_console
from crosslmm_cli.engine.options import (
    DEFAULT_FRAMES,
    DEFAULT_MAX_FRAMES,
    FrameOptions,
    GenerationOptions,
    ModelOptions,
    RunOptions,
)
from crosslmm_cli.errors import UsageError
from crosslmm_cli.units import parse_time

if TYPE_CHECKING:
    from rich.console import Console

    from crosslmm_cli.checkpoints.store import ResolvedModel
    from crosslmm_cli.engine.inference import Engine
    from crosslmm_cli.engine.loading import PipelineSpec
    from crosslmm_cli.engine.pipeline import VideoPipeline


def _option(*names: str, panel: str, **kwargs: Any) -> Any:
    return typer.Option(*names, rich_help_panel=panel, **kwargs)


# name -> (annotation, default). Option names and help are the user-facing contract.
RUN_OPTIONS: dict[str, tuple[Any, Any]] = {
    "model": (Annotated[Optional[str], _option("--model", "-m", panel=MODEL, metavar="NAME|DIR|HUB_ID",
              help="Preset name, checkpoint directory or hub id (default: $CROSSLMM_MODEL, the settings file, else the bundled demo).")], None),
    "tokens_per_frame": (Annotated[Optional[int], _option("--tokens-per-frame", panel=MODEL, min=1,
                         help="Visual tokens per frame the LLM sees (1, 4, 9, 16, ...; default: the model's).")], None),
    "quantize": (Quantize, None),
    "device": (Device, None),
    "threads": (Threads, None),
    "frames": (Annotated[Optional[int], _option("--frames", "-n", panel=FRAMES, min=1,
               help="Number of frames to sample, evenly (default: the model's).")], None),
    "fps": (Annotated[Optional[float], _option("--fps", panel=FRAMES, help="Sample this many frames per second instead.")], None),
    "max_frames": (Annotated[Optional[int], _option("--max-frames", panel=FRAMES, min=1,
                   help=f"Upper bound on frames with --fps (default: {DEFAULT_MAX_FRAMES}).")], None),
    "start": (Annotated[Optional[str], _option("--start", panel=FRAMES, metavar="TIME",
              help="Sample from this time on (seconds, mm:ss or h:mm:ss).")], None),
    "end": (Annotated[Optional[str], _option("--end", panel=FRAMES, metavar="TIME", help="Sample up to this time.")], None),
    "backend": (Annotated[str, _option("--backend", panel=FRAMES, metavar="auto|decord|ffmpeg",
                help="Video decoder (default: auto: decord where it is reliable, else ffmpeg; the other is tried if one fails).")], "auto"),
    "subtitles": (Annotated[str, _option("--subtitles", panel=FRAMES, metavar="auto|FILE|off",
                  help="Add subtitle lines to the prompt: a sidecar .srt/.vtt or embedded track (auto), a file, or off.")], "auto"),
    "no_cache": (Annotated[bool, _option("--no-cache", panel=FRAMES, help="Neither read nor write the video feature cache.")], False),
    "max_new_tokens": (Annotated[int, _option("--max-new-tokens", panel=GENERATION, min=1, help="Longest answer, in tokens.")], 256),
    "temperature": (Annotated[float, _option("--temperature", panel=GENERATION, min=0.0,
                    help="0 decodes greedily; above 0 samples.")], 0.0),
    "top_p": (Annotated[float, _option("--top-p", panel=GENERATION, help="Nucleus sampling mass (with --temperature > 0).")], 1.0),
    "seed": (Annotated[Optional[int], _option("--seed", panel=GENERATION, help="Seed for sampling: same seed and input, same output.")], None),
    "quiet": (Quiet, False),
    "verbose": (Annotated[bool, _option("--verbose", "-v", panel=OUTPUT,
                help="Also report frames, visual tokens, prefill ms, tokens/s and peak memory on stderr.")], False),
}


def build_run_options(values: dict[str, Any]) -> RunOptions:
    """Flag values (RUN_OPTIONS' names) -> validated RunOptions; bad values raise UsageError."""
    if values["quiet"] and values["verbose"]:
        raise UsageError("--quiet and --verbose exclude each other")
    quantize, device = placement(values["quantize"], values["device"])
    frames = FrameOptions(
        num_frames=values["frames"],
        fps=values["fps"],
        max_frames=values["max_frames"],
        start=parse_time(values["start"]) if values["start"] is not None else None,
        end=parse_time(values["end"]) if values["end"] is not None else None,
        backend=values["backend"],
    )
    return RunOptions(
        model=ModelOptions(
            ref=values["model"],
            quantize=quantize,
            device=device,
            tokens_per_frame=values["tokens_per_frame"],
            threads=values["threads"],
        ),
        frames=frames,
        generation=GenerationOptions(
            max_new_tokens=values["max_new_tokens"], temperature=values["temperature"], top_p=values["top_p"], seed=values["seed"]
        ),
        subtitles=values["subtitles"],
        use_cache=not values["no_cache"],
        verbosity=-1 if values["quiet"] else 1 if values["verbose"] else 0,
    )


def with_run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: add RUN_OPTIONS to a command's flags and pass them to it as `run: RunOptions`."""

    def build(values: dict[str, Any]) -> RunOptions:
        run = build_run_options(values)
        set_verbosity(run.verbosity)  # the error handler shows a traceback under --verbose
        return run

    return add_options(command, RUN_OPTIONS, "run", build)


def add_options(command: Callable[..., Any], table: dict[str, tuple[Any, Any]], keyword: str,
                build: Callable[[dict[str, Any]], Any]) -> Callable[..., Any]:
    """`command` with `table`'s flags (name -> (annotation, default)) added to its signature; their
    values reach it as one argument, `keyword=build(values)`, so a group of flags is declared once."""
    signature = inspect.signature(command)
    own = [p for name, p in signature.parameters.items() if name != keyword]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, (annotation, default) in table.items()
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in table}
        return command(*args, **{keyword: build(values)}, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
    annotations = {k: v for k, v in command.__annotations__.items() if k != keyword}
    wrapper.__annotations__ = {**annotations, **{name: ann for name, (ann, _) in table.items()}}
    return wrapper


def current_settings() -> Settings:
    """The settings file as it is now (read each time: it is a few lines of TOML)."""
    return load_settings()


@dataclass
class Session:
    """One command's run: its options, its stderr console, the engine once loaded."""

    run: RunOptions
    err: Console
    _model: ResolvedModel | None = field(default=None, init=False, repr=False)

    @classmethod
    def start(cls, run: RunOptions) -> Session:
        return cls(run, stderr_console())

    def note(self, message: str) -> None:
        """A line on stderr unless --quiet (never on stdout, which carries only results)."""
        if self.run.verbosity >= 0:
            self.err.print(message, markup=False, style="dim")

    def detail(self, message: str) -> None:
        """A line on stderr with --verbose only."""
        if self.run.verbosity > 0:
            self.err.print(message, markup=False, style="dim")

    def resolve_model(self) -> ResolvedModel:
        """The model --model names (resolved once per run: the demo's note is printed once)."""
        if self._model is None:
            self._model = self._resolve_model()
        return self._model

    def _resolve_model(self) -> ResolvedModel:
        from crosslmm_cli.checkpoints.store import resolve_model

        choice = choose_model(self.run.model.ref, current_settings())
        resolved = resolve_model(choice)
        if choice.source == "default" and resolved.ref == DEMO_MODEL:
            self.note(
                "note: using the bundled demo model (it knows only synthetic shapes); for real videos run "
                "`crosslmm models pull onevision-0.5b` and pass --model onevision-0.5b"
            )
        return resolved

    def load_engine(self) -> Engine:
        from crosslmm_cli.checkpoints.devices import resolve_device
        from crosslmm_cli.engine.loading import load_engine

        resolved = self.resolve_model()
        options = self.run.model
        if options.device == "auto" and resolve_device("auto").type == "cpu" and not resolved.is_demo:
            self.note("note: no GPU found; running on the CPU, which is slow for real models")
        started = time.perf_counter()
        engine = load_engine(resolved, options)
        self.detail(
            f"model {resolved.ref} ({resolved.location}) on {engine.device}, {engine.tokens_per_frame} tokens per frame, "
            f"loaded in {time.perf_counter() - started:.1f} s"
        )
        return engine

    def pipeline_spec(self, frames: FrameOptions | None = None) -> PipelineSpec:
        """This run's pipeline, described (model, frames, subtitles, feature cache), to build here or
        in another process (`--engine ray`)."""
        from crosslmm_cli.engine.loading import PipelineSpec

        return PipelineSpec(
            model=self.resolve_model(), options=self.run.model, frames=frames or self.run.frames,
            subtitles=self.run.subtitles, cache_dir=str(feature_cache_dir()) if self.run.use_cache else None,
            cache_max_bytes=int(current_settings().cache_max_gb * 1e9),
        )

    def pipeline(self, engine: Engine, frames: FrameOptions | None = None) -> VideoPipeline:
        """Video input for `engine`: the --frames/--fps/... options (or `frames`), subtitles, the cache."""
        return self.pipeline_spec(frames).build(engine)

    def open_video(self, video: str, frames: FrameOptions | None = None) -> tuple[VideoPipeline, Any, Any]:
        """The once-per-video work of single-video commands: probe `video`, load the model, then
        decode (or read from the cache) and encode it. Returns (pipeline, prepared, encoded).

        The probe comes first so that a missing, unreadable or non-video input (or a URL) fails in
        a fraction of a second instead of after the model has loaded; errors name the file."""
        from crosslmm_cli.errors import for_input
        from crosslmm_cli.video import probe

        try:
            probe(video)
        except Exception as exc:
            raise for_input(exc, video) from exc
        pipeline = self.pipeline(self.load_engine(), frames)
        started = time.perf_counter()
        try:
            prepared = pipeline.prepare(video)
            encoded = pipeline.encode(prepared)
        except Exception as exc:
            raise for_input(exc, video) from exc
        report_video(self, video, prepared)
        self.detail(f"{video}: ready in {time.perf_counter() - started:.2f} s")
        return pipeline, prepared, encoded


def videos_named(paths: list[str], session: Session) -> list[str]:
    """The videos PATH arguments name (see `crosslmm_cli.video.discovery`); a usage error if there are none."""
    import sys

    from crosslmm_cli.video.discovery import STDIN, discover_inputs

    if STDIN in paths and sys.stdin.isatty():
        session.note("reading video paths from stdin, one per line (Ctrl-D ends)")
    videos = discover_inputs(paths, stdin=sys.stdin)
    if not videos:
        raise UsageError(f"no videos found in {' '.join(paths)}")
    return videos


def report_video(session: Session, path: str, prepared: Any, encoded: Any = None) -> None:
    """--verbose lines about one input: frames and span, cache or decode, subtitles; truncation always."""
    if prepared.partial:
        session.note(f"warning: {path} is truncated; only its readable part was used")
    if session.run.verbosity <= 0:
        return
    times = prepared.timestamps
    how = "from the feature cache" if prepared.cached_features is not None else "decoded"
    session.detail(f"{path}: {prepared.num_frames} frames ({times[0]:.1f}-{times[-1]:.1f} s of {prepared.duration:.1f} s) {how}")
    if prepared.subtitles is not None:
        session.detail(f"{path}: subtitles from {prepared.subtitles.source} ({len(prepared.subtitles.cues)} cues)")


def feature_cache_dir():  # noqa: ANN201 - Path, imported lazily by callers
    return cache_dir() / "features"
