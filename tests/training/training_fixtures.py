"""Builders for the training tests: tiny checkpoints, tiny clips, a tokenizer without <video>.

A uniquely named module (not conftest): every test area has a conftest.py, and `from conftest
import ...` would find whichever was imported first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crosslmm_cli.modeling.processing import CrossLMMProcessor
from crosslmm_cli.modeling.random_checkpoint import random_processor, save_random_checkpoint

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 40)}
QUESTION = "What colour is the video?"
CORPUS = [
    QUESTION, "Describe the video.", "What happens in the video?", "How many frames?",
    "The video lasts for 2.00 seconds, and 8 frames are uniformly sampled from it.",
    "These frames are located at 0.12s,0.38s,0.62s,0.88s,1.12s,1.38s,1.62s,1.88s.",
    "Please answer the following questions related to this video.",
    "You are a helpful assistant.", "Answer with the option's letter from the given choices directly.",
    *[f"The video is {name}." for name in COLOURS], *[f"A. {name}\nB. {name}" for name in COLOURS],
]


def tiny_processor(tokens_per_frame: int = 4, image_size: int = 32) -> CrossLMMProcessor:
    return random_processor(tokens_per_frame, image_size, corpus=CORPUS, vocab_size=360, resample=2)


def tiny_checkpoint(path: Path, *, seed: int = 0, processor: CrossLMMProcessor | None = None, gates: float | None = None,
                    **overrides) -> Path:
    """Save a random tiny CrossLMM (hidden 32, cross-attention in all 4 layers) with its processor.

    `gates` sets every tanh gate's pre-activation (None keeps the initial 0)."""
    return save_random_checkpoint(path, "tiny", seed=seed, gates=gates, processor=processor or tiny_processor(),
                                  **overrides)


def write_video(path: Path, frames: np.ndarray, fps: int = 4) -> Path:
    """uint8 (T, H, W, 3) -> an H.264 mp4 (imageio-ffmpeg's bundled ffmpeg)."""
    import imageio_ffmpeg

    height, width = frames.shape[1:3]
    writer = imageio_ffmpeg.write_frames(str(path), (width, height), fps=fps, quality=9, macro_block_size=1,
                                         ffmpeg_log_level="error")
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return path


def colour_clip(rgb: tuple[int, int, int], frames: int = 8, size: int = 64, seed: int = 0) -> np.ndarray:
    """A clip of one colour with a small bright square moving across it (so frames differ)."""
    clip = np.empty((frames, size, size, 3), dtype=np.uint8)
    clip[:] = np.array(rgb, dtype=np.uint8)
    for t in range(frames):
        x = (seed * 9 + t * 6) % (size - 16)
        clip[t, 8:24, x : x + 16] = 255
    return clip


VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
          "image_size": 32, "patch_size": 8}


def tokenizer_without_video_token():
    """A Qwen2-style chat tokenizer that, like Qwen2.5's own, has no <video> token."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from crosslmm_cli.modeling.tokenizer import QWEN2_CHAT_TEMPLATE

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.train_from_iterator(CORPUS * 4, trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                                show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   chat_template=QWEN2_CHAT_TEMPLATE)
