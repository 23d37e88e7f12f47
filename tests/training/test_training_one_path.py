"""One path from a video to the model: `eval` sees the pixels `ask` sees, `distill` the files `describe` finds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from training_fixtures import colour_clip, write_video

from crosslmm_cli.engine import Engine, FrameOptions, ModelOptions, VideoPipeline
from crosslmm_cli.training.evaluate import EvalItem, run_eval
from crosslmm_cli.training.frame_cache import FrameLoader
from crosslmm_cli.video.discovery import discover_inputs, find_videos


def recorded_pixels(model, monkeypatch) -> list[torch.Tensor]:
    """Every pixel tensor the model's vision encoder is given."""
    seen: list[torch.Tensor] = []
    original = model.get_video_features

    def recording(pixels, *args, **kwargs):
        seen.append(pixels.detach().clone())
        return original(pixels, *args, **kwargs)

    monkeypatch.setattr(model, "get_video_features", recording)
    return seen


@pytest.mark.parametrize("options", [FrameOptions(num_frames=5), FrameOptions(fps=3.0, start=0.5), FrameOptions()])
def test_eval_and_ask_give_the_model_identical_pixels(tiny_model_dir, tmp_path, monkeypatch, options):
    # A wide clip (96x64, the model reads 32x32 tiles): it is decoded at a shorter side of 32 and
    # squeezed by the image processor, the step eval used to skip by decoding straight to 32x32.
    clip = np.ascontiguousarray(colour_clip((200, 40, 40), frames=12, size=96)[:, 16:80])
    video = write_video(tmp_path / "wide.mp4", clip)
    engine = Engine.load(str(tiny_model_dir), ModelOptions(device="cpu"))
    seen = recorded_pixels(engine.model, monkeypatch)

    pipeline = VideoPipeline(engine, options, cache=None, subtitles="off")
    prepared = pipeline.prepare(str(video))
    pipeline.encode(prepared)  # what `crosslmm ask` does with the video
    item = EvalItem(id="q", video=video, task="colour", question="What colour is the video?", answer="red",
                    match="contains")
    loader = FrameLoader(engine.processor.image_processor, options)
    (prediction,) = run_eval(engine.model, engine.processor, [item], loader, max_new_tokens=2)

    assert prediction.error is None and len(seen) == 2
    ask_pixels, eval_pixels = seen
    assert ask_pixels.shape == eval_pixels.shape and ask_pixels.shape[-2:] == (32, 32)
    assert torch.equal(ask_pixels, eval_pixels)
    assert np.array_equal(prepared.timestamps, loader.load(video).timestamps)


def test_describe_and_distill_find_the_same_videos(tmp_path):
    names = ["a.mp4", "b.WMV", "c/d.3gp", "c/e.MTS", "f.ogv", "g.flv", "h.mkv", "notes.txt", ".hidden.mp4",
             ".cache/i.mp4", "j.m2ts"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    described = discover_inputs([str(tmp_path)])  # `crosslmm describe DIR`, `crosslmm batch DIR`
    distilled = find_videos(tmp_path)  # `crosslmm distill --videos DIR`
    assert [str(path) for path in distilled] == described
    assert [path.relative_to(tmp_path).as_posix() for path in distilled] == [
        "a.mp4", "b.WMV", "c/d.3gp", "c/e.MTS", "f.ogv", "g.flv", "h.mkv", "j.m2ts"]
