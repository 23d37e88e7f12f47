"""`crosslmm bench e2e`: the stages of one request through the inference engine, on a tiny checkpoint."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner


@pytest.fixture(autouse=True)
def isolated_state(crosslmm_state):
    """The shared state isolation (tests/conftest.py): own directories, the Hub offline."""
    return crosslmm_state


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    import torch

    from crosslmm_cli.modeling import CrossLMMForConditionalGeneration
    from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor, ImageProcessorConfig
    from crosslmm_cli.modeling.shapes import config_for_shape
    from crosslmm_cli.modeling.processing import CrossLMMProcessor
    from crosslmm_cli.modeling.tokenizer import build_tokenizer

    directory = tmp_path_factory.mktemp("tiny-model")
    tokenizer = build_tokenizer(["A red square moves left. What happens in this video? Describe it."] * 8, vocab_size=300)
    torch.manual_seed(0)
    config = config_for_shape("tiny", text_config={"vocab_size": len(tokenizer)},
                              video_token_id=tokenizer.convert_tokens_to_ids("<video>"))
    model = CrossLMMForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(directory)
    size = config.vision_image_size
    CrossLMMProcessor(CrossLMMImageProcessor(ImageProcessorConfig(height=size, width=size)), tokenizer,
                      tokens_per_frame=config.tokens_per_frame, video_newline=True).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    import imageio_ffmpeg

    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=s=64x48:r=10:d=3",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True, capture_output=True)
    return path


def test_e2e_reports_every_stage_of_every_request(app, tiny_checkpoint, clip):
    args = ["bench", "e2e", str(clip), "What happens?", "-m", str(tiny_checkpoint), "--frames", "4",
            "--max-new-tokens", "6", "--repeats", "2", "--device", "cpu", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["frames"] == 4 and data["visual_tokens"] == 4 * 4 + 1 and data["device"] == "cpu"
    assert len(data["requests"]) == 2 and data["load_s"] > 0
    for request in data["requests"]:
        stages = [request[s] for s in ("decode", "encode", "prompt", "first_token", "answer")]
        assert all(seconds >= 0 for seconds in stages) and request["decode"] > 0 and request["encode"] > 0
        assert 1 <= request["new_tokens"] <= 6
        assert request["first_token"] <= request["first_text"] + 1e-6
    assert data["median"]["decode"] == data["requests"][1]["decode"]  # one warm request: its own value
    assert isinstance(data["answer"], str)


def test_e2e_table_and_a_missing_video(app, tiny_checkpoint, clip, tmp_path):
    result = CliRunner().invoke(app, ["bench", "e2e", str(clip), "-m", str(tiny_checkpoint), "--frames", "2",
                                      "--max-new-tokens", "3", "--repeats", "1", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for stage in ("load (once)", "decode", "encode", "prompt", "first token", "answer", "total"):
        assert stage in result.stdout
    missing = CliRunner().invoke(app, ["bench", "e2e", str(tmp_path / "nope.mp4"), "-m", str(tiny_checkpoint),
                                       "--repeats", "1", "--device", "cpu"])
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    assert missing.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope.mp4'}: no such file"]
