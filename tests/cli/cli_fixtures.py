"""Helpers for the CLI tests: test videos made with ffmpeg's lavfi sources, a tiny random checkpoint.

A uniquely named module (not conftest) so that `from cli_fixtures import ...` cannot pick up
another test directory's conftest.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_video(path: Path, *scenes: tuple[str, float], size: str = "64x48", rate: int = 10, extra: list[str] | None = None) -> Path:
    """A video of solid-colour scenes, e.g. make_video(p, ("red", 2), ("blue", 3)): cuts at known times."""
    inputs, filters = [], []
    for k, (colour, seconds) in enumerate(scenes):
        inputs += ["-f", "lavfi", "-i", f"color=c={colour}:s={size}:r={rate}:d={seconds}"]
        filters.append(f"[{k}:v]")
    graph = "".join(filters) + f"concat=n={len(scenes)}:v=1:a=0[v]"
    command = [ffmpeg(), "-v", "error", "-y", *inputs, *(extra or []), "-filter_complex", graph, "-map", "[v]"]
    command += ["-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(command, check=True, capture_output=True)
    return path


def save_tiny_checkpoint(directory: Path, *, seed: int = 0, gates: float = 0.5) -> Path:
    """A complete random tiny CrossLMM checkpoint (config, safetensors, tokenizer, processor).

    Gates are opened (tanh(0.5)) so the cross-attention path runs, as in a trained model.
    """
    import torch

    from crosslmm_cli.modeling import CrossLMMForConditionalGeneration
    from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor, ImageProcessorConfig
    from crosslmm_cli.modeling.presets import config_for_shape
    from crosslmm_cli.modeling.processing import CrossLMMProcessor
    from crosslmm_cli.modeling.tokenizer import build_tokenizer

    corpus = ["The video lasts for 12.00 seconds, and frames are uniformly sampled from it."] * 4
    corpus += ["A red square moves left. A blue circle spins. What happens at the end?"] * 4
    tokenizer = build_tokenizer(corpus, vocab_size=320)
    video_token_id = tokenizer.convert_tokens_to_ids("<video>")
    torch.manual_seed(seed)
    config = config_for_shape("tiny", text_config={"vocab_size": len(tokenizer)}, video_token_id=video_token_id)
    model = CrossLMMForConditionalGeneration(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".gate_" in name:
                param.fill_(gates)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(directory)
    image_processor = CrossLMMImageProcessor(ImageProcessorConfig(height=config.vision_image_size, width=config.vision_image_size))
    CrossLMMProcessor(image_processor, tokenizer, tokens_per_frame=config.tokens_per_frame,
                      video_newline=config.video_newline).save_pretrained(directory)
    return directory
