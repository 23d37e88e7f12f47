"""The inference engine: from a video to an answer, one path for every command.

- `options`: what a run asks for, as frozen dataclasses (frames, generation, model);
- `inference`: `Engine` (a loaded model: encode a video once, answer many questions, streamed);
- `generation`: the tool's greedy settings and batched greedy replies (eval, distillation);
- `pipeline`: a video path to an `EncodedVideo`: sampling, subtitles, the feature cache, the encoder;
- `feature_cache`: encoder features on disk, keyed by file, sampling and model.

    from crosslmm_cli.engine import Engine, ModelOptions
    engine = Engine.load("models/demo", ModelOptions(device="cpu"))

Names are loaded on first use, so importing this package (the CLI does, for its options) imports
neither torch nor numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crosslmm_cli.engine.options import FrameOptions, GenerationOptions, ModelOptions, RunOptions
from crosslmm_cli.lazy import lazy_exports

if TYPE_CHECKING:
    from crosslmm_cli.engine.feature_cache import CacheKey, FeatureCache
    from crosslmm_cli.engine.inference import Answer, EncodedVideo, Engine, GenerationStats
    from crosslmm_cli.engine.pipeline import PreparedVideo, VideoPipeline

_LAZY = {
    "Answer": "crosslmm_cli.engine.inference",
    "EncodedVideo": "crosslmm_cli.engine.inference",
    "Engine": "crosslmm_cli.engine.inference",
    "GenerationStats": "crosslmm_cli.engine.inference",
    "PreparedVideo": "crosslmm_cli.engine.pipeline",
    "VideoPipeline": "crosslmm_cli.engine.pipeline",
    "CacheKey": "crosslmm_cli.engine.feature_cache",
    "FeatureCache": "crosslmm_cli.engine.feature_cache",
}

__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = ["FrameOptions", "GenerationOptions", "ModelOptions", "RunOptions", *_LAZY]
