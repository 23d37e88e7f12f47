"""The tool's greedy decoding, and greedy answers to several questions about one clip at once.

`greedy_kwargs` is what `crosslmm ask` generates with (unless it samples), and what eval and the
distillation teacher generate with. Prompts are built exactly as `crosslmm ask` builds them (the
processor's chat template with the time instruction), so eval scores what users get. The clip's
encoder features are computed once (`encoding.encode_frames`) and shared by every question.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from crosslmm_cli.engine.encoding import encode_frames

if TYPE_CHECKING:
    import numpy as np
    import torch


class Clip(Protocol):
    """Sampled frames of one video: a training `ClipFrames`, or anything alike."""

    frames: np.ndarray  # uint8 (T, H, W, 3)
    timestamps: np.ndarray  # (T,) seconds
    duration: float

    @property
    def num_frames(self) -> int: ...


def greedy_kwargs(model: Any, processor: Any, max_new_tokens: int) -> dict[str, Any]:
    """Greedy decoding, whatever sampling defaults a checkpoint's generation config carries.

    The video placeholder is never generated: an answer holding it could not be fed back
    (distillation feeds the teacher's answers to the student)."""
    from crosslmm_cli.modeling.stop_tokens import stop_settings

    kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": False,
                              "temperature": None, "top_p": None, "top_k": None,
                              "suppress_tokens": [processor.video_token_id]}
    # The loader already wrote the stop tokens into the model's generation config; a model built in
    # memory gets the same ones here.
    kwargs.update(stop_settings(getattr(model, "generation_config", None), processor.tokenizer))
    return kwargs


def prompt_inputs(processor: Any, questions: Sequence[str], clip: Clip, device: Any) -> dict[str, torch.Tensor]:
    """Left-padded input_ids / attention_mask (B, L) for `questions` about `clip` (video placeholders expanded)."""
    timestamps = [float(t) for t in clip.timestamps]
    prompts = [processor.build_prompt(q, timestamps=timestamps, duration=clip.duration) for q in questions]
    batch = processor(text=prompts, num_frames=clip.num_frames)
    return {"input_ids": batch["input_ids"].to(device), "attention_mask": batch["attention_mask"].to(device)}


def generate_replies(model: Any, processor: Any, clip: Clip, questions: Sequence[str], *,
                     features: torch.Tensor | None = None, max_new_tokens: int = 32,
                     **model_kwargs: Any) -> list[str]:
    """Greedy replies (special tokens dropped) to each question about `clip`; `features` (T, N, D_v)
    when already encoded."""
    import torch

    features = encode_frames(model, processor, clip.frames)[None] if features is None else features[None]
    inputs = prompt_inputs(processor, questions, clip, model.device)
    batch = inputs["input_ids"].shape[0]
    with torch.no_grad():
        sequences = model.generate(**inputs, video_features=features.expand(batch, *features.shape[1:]),
                                   **greedy_kwargs(model, processor, max_new_tokens), **model_kwargs)
    new_tokens = sequences[:, inputs["input_ids"].shape[1]:]
    return [text.strip() for text in processor.batch_decode(new_tokens, skip_special_tokens=True)]
