"""LLaVA-OneVision -> CrossLMM conversion: exact at LLaVA-OneVision's layout, runnable below it."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration

from crosslmm_cli.checkpoints.convert import convert_llava_onevision, native_tokens_per_frame
from crosslmm_cli.errors import CheckpointError
from crosslmm_cli.checkpoints.loader import load_model
from crosslmm_cli.modeling.tokenizer import build_tokenizer

CORPUS = ["a red circle moves left", "what colour is the square?", "the video lasts 4.00 seconds"] * 20

# Two different tiny LLaVA-OneVision shapes: an even 4x4 grid, and an odd 5x5 grid (ceil pooling
# to 3x3) with a non-default vision feature layer, tied embeddings and wider grouped-query heads.
LLAVA_SHAPES = {
    "even-grid": dict(
        vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    image_size=32, patch_size=8),
        text=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
                  num_key_value_heads=2),
        vision_feature_layer=-1,
    ),
    "odd-grid": dict(
        vision=dict(hidden_size=24, intermediate_size=48, num_hidden_layers=3, num_attention_heads=2,
                    image_size=40, patch_size=8),
        text=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=6,
                  num_key_value_heads=3, tie_word_embeddings=True),
        vision_feature_layer=-2,
    ),
}


def write_llava_checkpoint(directory, shape: str, seed: int = 0):
    """A random tiny LLaVA-OneVision checkpoint as llava-hf publishes them (model, tokenizer, preprocessor)."""
    spec = LLAVA_SHAPES[shape]
    tokenizer = build_tokenizer(CORPUS, vocab_size=300)
    video_id = tokenizer.convert_tokens_to_ids("<video>")
    config = LlavaOnevisionConfig(
        vision_config=dict(model_type="siglip_vision_model", vision_use_head=False, **spec["vision"]),
        text_config=dict(model_type="qwen2", vocab_size=len(tokenizer), **spec["text"]),
        video_token_index=video_id,
        image_token_index=tokenizer.convert_tokens_to_ids("<|im_start|>"),
        vision_feature_layer=spec["vision_feature_layer"],
    )
    torch.manual_seed(seed)
    model = LlavaOnevisionForConditionalGeneration(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    size = spec["vision"]["image_size"]
    (directory / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "LlavaOnevisionImageProcessor", "do_resize": True,
        "size": {"height": size, "width": size}, "resample": 3, "do_rescale": True, "rescale_factor": 1 / 255,
        "do_normalize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": True,
        "image_grid_pinpoints": [[size, size]],
    }))
    return model, tokenizer


def video_inputs(config, tokens_per_frame: int, frames: int = 3, seed: int = 1):
    vision = config.vision_config
    video = torch.randn(1, frames, 3, vision.image_size, vision.image_size, generator=torch.Generator().manual_seed(seed))
    placeholder = [config.video_token_id if hasattr(config, "video_token_id") else config.video_token_index]
    input_ids = torch.tensor([[5, 6, 7] + placeholder * (frames * tokens_per_frame + 1) + [8, 9, 10, 11]])
    return input_ids, video


@pytest.mark.parametrize("shape", sorted(LLAVA_SHAPES))
@pytest.mark.parametrize("init", ["zero", "from_self_attention"])
@torch.no_grad()
def test_converted_model_reproduces_llava_onevision_logits(tmp_path, shape, init):
    llava, _ = write_llava_checkpoint(tmp_path / "llava", shape)
    convert_llava_onevision(tmp_path / "llava", tmp_path / "crosslmm", init_cross_attention=init)
    model, processor = load_model(tmp_path / "crosslmm", quantize="none", device="cpu")

    vision = llava.config.vision_config
    native = native_tokens_per_frame(vision.image_size, vision.patch_size)
    assert model.config.tokens_per_frame == native == processor.tokens_per_frame
    assert model.config.kv_tokens_per_frame == native  # cross-attention reads LLaVA-OneVision's own pooled grid
    input_ids, video = video_inputs(llava.config, native)
    expected = llava(input_ids=input_ids, pixel_values_videos=video).logits
    got = model(input_ids=input_ids, pixel_values_videos=video).logits
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("tokens_per_frame", [9, 1])
@torch.no_grad()
def test_converted_few_token_model_runs_and_generates(tmp_path, tokens_per_frame):
    write_llava_checkpoint(tmp_path / "llava", "even-grid")
    convert_llava_onevision(tmp_path / "llava", tmp_path / "out", tokens_per_frame=tokens_per_frame)
    model, processor = load_model(tmp_path / "out", quantize="none", device="cpu")
    assert model.config.pooling == "area" and processor.tokens_per_frame == tokens_per_frame
    frames = torch.randint(0, 256, (4, 32, 32, 3), dtype=torch.uint8)
    prompt = processor.build_prompt("what happens?", timestamps=[0.0, 1.0, 2.0, 3.0], duration=4.0)
    inputs = processor(text=prompt, videos=frames)
    assert int((inputs["input_ids"] == model.config.video_token_id).sum()) == 4 * tokens_per_frame + 1
    out = model.generate(**inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 5


def test_converting_something_else_fails_with_a_clear_message(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    with pytest.raises(CheckpointError, match="config.json"):
        convert_llava_onevision(tmp_path, tmp_path / "out")
    with pytest.raises(CheckpointError, match="file is missing"):
        convert_llava_onevision(tmp_path / "nowhere", tmp_path / "out")


@pytest.fixture
def transformers_bars_on():
    """transformers' progress bars enabled, as in a fresh process (another test may have turned them off)."""
    from transformers.utils import logging as transformers_logging

    was_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.enable_progress_bar()
    yield
    if not was_on:
        transformers_logging.disable_progress_bar()


def test_convert_command_shows_our_progress_not_transformers_bars(tmp_path, transformers_bars_on):
    """Issue 14, item 10: `crosslmm convert` printed transformers' "Loading weights" / writing bars."""
    from typer.testing import CliRunner

    from crosslmm_cli.cli import app

    write_llava_checkpoint(tmp_path / "llava", "even-grid")
    result = CliRunner().invoke(app, ["convert", str(tmp_path / "llava"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(tmp_path / "out")
    assert result.stderr.strip() == f"converting {tmp_path / 'llava'} to CrossLMM in {tmp_path / 'out'} ..."
    quiet = CliRunner().invoke(app, ["convert", str(tmp_path / "llava"), str(tmp_path / "out2"), "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
