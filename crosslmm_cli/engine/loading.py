"""Loading a run's model, here or in another process: `load_engine` and `PipelineSpec`.

`load_engine` is how every model-running command turns the model `--model` resolved to into an
`Engine`: the preset's tokens per frame and default frame count unless the flags say otherwise,
the CPU-thread policy, then `Engine.load`. `PipelineSpec` says how to build a run's
`VideoPipeline` (model, frames, subtitles, feature cache) without holding a model, so it can be
pickled to a process that loads the model itself (a Ray actor), and it gives the `FrameDecoder`
such a pipeline decodes with, read from the checkpoint's files, for processes that load no model
at all (Ray decode tasks).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from crosslmm_cli.engine.options import DEFAULT_FRAMES, FrameOptions, ModelOptions

if TYPE_CHECKING:
    from crosslmm_cli.checkpoints.store import ResolvedModel
    from crosslmm_cli.engine.inference import Engine
    from crosslmm_cli.engine.pipeline import FrameDecoder, VideoPipeline


def default_frames_of(model: ResolvedModel) -> int:
    """The frames a run samples when no flag says: the checkpoint's own (processor_config.json's
    `num_frames`), else the preset's, else the tool's default. The checkpoint comes first so that
    `--model demo`, `--model models/demo` and a hub id of the same files sample the same frames."""
    from crosslmm_cli.checkpoints.store import local_checkpoint_dir
    from crosslmm_cli.modeling.processing import checkpoint_default_frames

    directory = local_checkpoint_dir(model.location)
    own = checkpoint_default_frames(directory) if directory is not None else None
    if own is not None:
        return own
    return model.preset.default_frames if model.preset is not None else DEFAULT_FRAMES


def model_options_for(model: ResolvedModel, options: ModelOptions) -> ModelOptions:
    """`options` with the preset's tokens per frame where the flags leave it unset."""
    preset = model.preset
    if options.tokens_per_frame is None and preset is not None and preset.tokens_per_frame:
        return replace(options, tokens_per_frame=preset.tokens_per_frame)
    return options


def load_engine(model: ResolvedModel, options: ModelOptions) -> Engine:
    """The model `model` names, loaded with `options` (failures are ModelLoadError, exit 3)."""
    from crosslmm_cli.checkpoints.devices import set_threads
    from crosslmm_cli.engine.inference import Engine

    options = model_options_for(model, options)
    set_threads(options.threads, model.location, options.device)
    return Engine.load(model.location, options, name=model.ref, default_frames=default_frames_of(model))


@dataclass(frozen=True)
class PipelineSpec:
    """A run's video pipeline, described: picklable, no model in it (see the module's docstring)."""

    model: ResolvedModel
    options: ModelOptions
    frames: FrameOptions
    subtitles: str = "auto"  # "auto" | "off" | a .srt/.vtt path
    cache_dir: str | None = None  # the feature cache's directory; None: no cache
    cache_max_bytes: int = 0

    def build(self, engine: Engine) -> VideoPipeline:
        """The pipeline over an engine already loaded (from this spec's model and options)."""
        from pathlib import Path

        from crosslmm_cli.engine.feature_cache import FeatureCache
        from crosslmm_cli.engine.pipeline import VideoPipeline

        cache = FeatureCache(Path(self.cache_dir), max_bytes=self.cache_max_bytes) if self.cache_dir else None
        return VideoPipeline(engine, self.frames, cache=cache, subtitles=self.subtitles)

    def load(self) -> VideoPipeline:
        """Load the model and build the pipeline (what a Ray model actor does once)."""
        return self.build(load_engine(self.model, self.options))

    def decoder(self) -> FrameDecoder:
        """The decoder `load().decoder()` would give, without loading the model: the frame size is
        the checkpoint's image processor's (its preprocessor_config.json). The checkpoint is checked
        as the loader checks it (config, weights' headers), so a broken one fails here, in one line."""
        from crosslmm_cli.checkpoints.loader import open_checkpoint
        from crosslmm_cli.engine.pipeline import FrameDecoder
        from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor

        directory, _ = open_checkpoint(self.model.location)
        image_processor = CrossLMMImageProcessor.from_pretrained(directory)
        sampling = self.frames.sampling(default_frames=default_frames_of(self.model), frame_size=image_processor.output_size)
        return FrameDecoder(sampling, self.frames, self.subtitles)

    def with_frames(self, frames: FrameOptions) -> PipelineSpec:
        return replace(self, frames=frames)
