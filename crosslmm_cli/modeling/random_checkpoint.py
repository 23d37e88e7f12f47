"""A complete CrossLMM checkpoint with random weights: config, safetensors, tokenizer, processor.

Tests, benchmarks and examples need a real checkpoint directory that `load_model` reads, without
downloading anything. One builder serves them all, so a change to the checkpoint layout shows up
everywhere at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .modeling_crosslmm import CrossLMMForConditionalGeneration
    from .processing import CrossLMMProcessor

#: Enough text for a small BPE to learn the words prompts are made of.
DEFAULT_CORPUS = (
    "You are a helpful assistant.",
    "The video lasts for 12.00 seconds, and 8 frames are uniformly sampled from it.",
    "These frames are located at 0.00s,1.50s,3.00s.Please answer the following questions related to this video.",
    "A red square moves left. A blue circle stands still. What happens at the end? Describe the video.",
    "Answer with the option's letter from the given choices directly.",
)


def random_processor(tokens_per_frame: int, image_size: int, *, corpus: Sequence[str] = DEFAULT_CORPUS,
                     vocab_size: int = 320, resample: int = 3) -> CrossLMMProcessor:
    """A processor with a small BPE tokenizer trained on `corpus` and a square `image_size` tile."""
    from .image_processing import CrossLMMImageProcessor, ImageProcessorConfig
    from .processing import CrossLMMProcessor
    from .tokenizer import build_tokenizer

    tokenizer = build_tokenizer(list(corpus) * 4, vocab_size=vocab_size)
    image_processor = CrossLMMImageProcessor(ImageProcessorConfig(height=image_size, width=image_size, resample=resample))
    return CrossLMMProcessor(image_processor, tokenizer, tokens_per_frame=tokens_per_frame, video_newline=True)


def random_model(
    shape: str = "tiny",
    *,
    seed: int = 0,
    gates: float | None = None,
    processor: CrossLMMProcessor | None = None,
    **config_overrides: Any,
) -> tuple[CrossLMMForConditionalGeneration, CrossLMMProcessor]:
    """A random model of preset `shape` (eval mode) and its processor.

    `gates` sets every tanh gate's pre-activation (None keeps 0, the state of a fresh model; a
    non-zero value makes the cross-attention matter, as in a trained model). `config_overrides`
    go to `config_for_shape` (`text_config` / `vision_config` dicts update the shape's).
    """
    import torch

    from .modeling_crosslmm import CrossLMMForConditionalGeneration
    from .shapes import SHAPES, config_for_shape
    from .stop_tokens import set_stop_tokens

    if processor is None:
        tokens_per_frame = config_overrides.get("tokens_per_frame", SHAPES.get(shape, {}).get("tokens_per_frame", 9))
        probe = config_for_shape(shape, **{k: v for k, v in config_overrides.items() if k != "text_config"})
        processor = random_processor(tokens_per_frame, probe.vision_image_size)
    text = {"vocab_size": len(processor.tokenizer), **config_overrides.pop("text_config", {})}
    config_overrides.setdefault("tokens_per_frame", processor.tokens_per_frame)
    config = config_for_shape(shape, text_config=text, video_token_id=processor.video_token_id, **config_overrides)
    torch.manual_seed(seed)
    model = CrossLMMForConditionalGeneration(config).eval()
    if gates is not None:
        with torch.no_grad():
            for name, param in model.named_parameters():
                if ".gate_" in name:
                    param.fill_(gates)
    set_stop_tokens(model.generation_config, processor.tokenizer)
    return model, processor


def save_random_checkpoint(directory: str | Path, shape: str = "tiny", **kwargs: Any) -> Path:
    """Write `random_model(shape, **kwargs)` and its processor to `directory`; returns it."""
    model, processor = random_model(shape, **kwargs)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return Path(directory)
