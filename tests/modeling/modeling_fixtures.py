"""Tiny CrossLMM models built from config, and inputs for them (transformers' model-tester scale)."""

from __future__ import annotations

import torch

from crosslmm_cli.modeling import CrossLMMConfig, CrossLMMForConditionalGeneration
from crosslmm_cli.modeling.shapes import config_for_shape

VIDEO = 127  # video_token_id of the tiny shape (vocab 128)


def tiny_config(**overrides) -> CrossLMMConfig:
    return config_for_shape("tiny", **overrides)


def tiny_model(seed: int = 0, gates: float | None = None, **overrides) -> CrossLMMForConditionalGeneration:
    """A random tiny model in eval mode; `gates` sets every tanh gate's pre-activation (None keeps 0)."""
    torch.manual_seed(seed)
    model = CrossLMMForConditionalGeneration(tiny_config(**overrides)).eval()
    if gates is not None:
        with torch.no_grad():
            for name, param in model.named_parameters():
                if ".gate_" in name:
                    param.fill_(gates)
    return model


def video_prompt(config: CrossLMMConfig, frames: int, prefix=(1, 2, 3), suffix=(4, 5, 6, 7), tokens_per_frame=None):
    """input_ids (1, S): prefix text, the video placeholder run, suffix text."""
    n = config.video_placeholder_length(frames, tokens_per_frame)
    return torch.tensor([list(prefix) + [config.video_token_id] * n + list(suffix)])


def random_video(config: CrossLMMConfig, frames: int, batch: int = 1, seed: int = 1) -> torch.Tensor:
    size = config.vision_image_size
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, 3, size, size, generator=generator)

