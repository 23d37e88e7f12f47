"""CrossLMMImageProcessor against the same arithmetic done independently (PIL resize + numpy).

Tolerances, in uint8 levels before normalisation (one level = rescale/std = 2/255 after SigLIP's
normalisation), and why they are not zero:
- CPU path (torch's uint8 antialiased kernel, bilinear/bicubic): <= 2 levels anywhere, <= 0.1
  levels on average (measured worst: 2 and 0.073). It computes PIL's filter with its own fixed-point weights, so a sum that
  lands near a rounding boundary can round the other way, now and then by 2 after two passes.
- float path (two float passes rounded to uint8 as PIL does; what CUDA uses): <= 1 level, <= 0.15
  on average (measured worst: 1 and 0.11): float32 weights put some exact halves a hair to
  either side.
- nearest, lanczos, box, hamming, and frames already at the target size: exact (1e-6 for float).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from processing_reference import DATA, pil_resize, reference_preprocess, structured_image

from crosslmm_cli.modeling.checkpoint_files import CheckpointFileError
from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor, ImageProcessorConfig
from crosslmm_cli.modeling.image_resize import resize_uint8

RNG = np.random.default_rng(1234)

# (input height, width) -> (output height, width): down, up, non-square out, extreme aspect, mixed
SHAPES = [((75, 100), (32, 32)), ((12, 20), (32, 32)), ((40, 30), (32, 48)), ((10, 200), (16, 16)), ((90, 200), (24, 24))]


def _frames(kind: str, height: int, width: int, count: int = 3) -> np.ndarray:
    if kind == "random":
        return RNG.integers(0, 256, (count, height, width, 3), dtype=np.uint8)
    frames = np.stack([structured_image(height, width)] * count)
    frames[1::3] = 255 - frames[1::3]
    frames[2::3] = np.roll(frames[2::3], 5, axis=2)
    return frames


def _levels(ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.abs(ours.astype(np.int64) - reference.astype(np.int64))


@pytest.mark.parametrize("kind", ["random", "structured"])
@pytest.mark.parametrize(("in_size", "out_size"), SHAPES)
@pytest.mark.parametrize(("resample", "kernel", "max_levels", "mean_levels"), [
    (3, "uint8", 2, 0.1), (2, "uint8", 2, 0.1), (3, "float", 1, 0.15), (2, "float", 1, 0.15),
])
def test_resize_matches_pil(kind, in_size, out_size, resample, kernel, max_levels, mean_levels):
    frames = _frames(kind, *in_size)
    reference = np.stack([pil_resize(frame, out_size, resample) for frame in frames])
    ours = resize_uint8(torch.from_numpy(frames).permute(0, 3, 1, 2), out_size, resample, kernel=kernel)
    diff = _levels(ours.permute(0, 2, 3, 1).numpy(), reference)
    assert diff.max() <= max_levels and diff.mean() <= mean_levels, (diff.max(), diff.mean())


def test_float_resize_without_rounding_between_passes_would_not_match_pil():
    # Why the float path rounds after each pass: bicubic overshoots on noise and PIL clips in between.
    frames = _frames("random", 40, 30)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    one_pass = torch.nn.functional.interpolate(x, size=(32, 48), mode="bicubic", antialias=True)
    one_pass = one_pass.round().clamp(0, 255).permute(0, 2, 3, 1).numpy()
    reference = np.stack([pil_resize(frame, (32, 48), 3) for frame in frames])
    assert _levels(one_pass, reference).max() > 5


@pytest.mark.parametrize("resample", [0, 1, 4, 5])  # nearest, lanczos, box, hamming
@pytest.mark.parametrize(("in_size", "out_size"), [((384, 512), (384, 384)), ((12, 20), (32, 32)), ((37, 53), (16, 24))])
def test_other_filters_are_exact(resample, in_size, out_size):
    frames = _frames("random", *in_size, count=2)
    reference = np.stack([np.asarray(Image.fromarray(f).resize(out_size[::-1], resample)) for f in frames])
    ours = resize_uint8(torch.from_numpy(frames).permute(0, 3, 1, 2), out_size, resample)
    assert np.array_equal(ours.permute(0, 2, 3, 1).numpy(), reference)


@pytest.mark.parametrize("kind", ["random", "structured"])
def test_processor_output_matches_reference_preprocessing(kind):
    config = ImageProcessorConfig(height=32, width=48, image_mean=(0.48, 0.45, 0.4), image_std=(0.27, 0.26, 0.28))
    frames = _frames(kind, 40, 30, count=5)
    ours = CrossLMMImageProcessor(config, chunk_size=2)(frames)
    assert ours.dtype == torch.float32 and ours.shape == (5, 3, 32, 48)
    reference = reference_preprocess(frames, (32, 48), 3, 1 / 255, config.image_mean, config.image_std)
    one_level = (1 / 255) / min(config.image_std)
    diff = np.abs(ours.numpy() - reference)
    assert diff.max() <= 2 * one_level + 1e-5
    assert diff.mean() <= 0.1 * one_level


def test_frames_already_at_target_size_are_not_resized():
    frames = _frames("random", 32, 32, count=4)
    ours = CrossLMMImageProcessor(ImageProcessorConfig(height=32, width=32))(frames)
    reference = reference_preprocess(frames, None, 3, 1 / 255, (0.5,) * 3, (0.5,) * 3)
    np.testing.assert_allclose(ours.numpy(), reference, atol=1e-6, rtol=0)


def test_chunking_single_image_torch_input_and_read_only_arrays_give_the_same_output():
    frames = _frames("random", 50, 70, count=7)
    big = CrossLMMImageProcessor(ImageProcessorConfig(height=24, width=24), chunk_size=64)(frames)
    small = CrossLMMImageProcessor(ImageProcessorConfig(height=24, width=24), chunk_size=3)
    assert torch.equal(small(frames), big)
    assert torch.equal(small(torch.from_numpy(frames)), big)
    read_only = frames.copy()
    read_only.flags.writeable = False
    assert torch.equal(small(read_only), big)
    assert torch.equal(small(frames[4]), big[4:5])  # one (H,W,3) image -> (1,3,S,S)
    assert torch.equal(small(np.ascontiguousarray(frames[..., ::-1])[..., ::-1]), big)  # negative strides


def test_grey_and_rgba_frames_are_converted_as_pil_does():
    processor = CrossLMMImageProcessor(ImageProcessorConfig(height=8, width=8))
    grey = RNG.integers(0, 256, (2, 8, 8, 1), dtype=np.uint8)
    assert torch.equal(processor(grey), processor(np.repeat(grey, 3, axis=-1)))

    rgba = RNG.integers(0, 256, (2, 8, 8, 4), dtype=np.uint8)
    rgba[0, 0, 0, 3], rgba[0, 0, 1, 3] = 0, 255  # fully transparent and opaque pixels too
    white = Image.new("RGBA", (8, 8), (255, 255, 255, 255))
    composited = np.stack([np.asarray(Image.alpha_composite(white, Image.fromarray(f, "RGBA")).convert("RGB")) for f in rgba])
    assert torch.equal(processor(rgba), processor(composited))


def test_real_llava_onevision_config_is_read_and_ignores_tiling_fields():
    processor = CrossLMMImageProcessor.from_json_file(DATA / "llava_onevision_preprocessor_config.json")
    config = processor.config
    assert (config.height, config.width, config.resample) == (384, 384, 3)
    assert config.image_mean == config.image_std == (0.5, 0.5, 0.5)
    assert config.rescale_factor == pytest.approx(1 / 255)
    assert not config.do_center_crop and processor.output_size == (384, 384)
    frames = _frames("structured", 48, 64, count=2)
    reference = reference_preprocess(frames, (384, 384), 3, 1 / 255, (0.5,) * 3, (0.5,) * 3)
    assert np.abs(processor(frames).numpy() - reference).max() <= 2 * (2 / 255) + 1e-5


def test_real_siglip_config_is_read():
    config = CrossLMMImageProcessor.from_json_file(DATA / "siglip_so400m_preprocessor_config.json").config
    assert config == ImageProcessorConfig()  # our defaults are SigLIP's at 384


def test_clip_config_resizes_the_shortest_edge_then_center_crops():
    processor = CrossLMMImageProcessor.from_json_file(DATA / "clip_vit_l_336_preprocessor_config.json")
    config = processor.config
    assert (config.shortest_edge, config.crop_height, config.crop_width) == (336, 336, 336)
    # small stand-in with the same semantics: shortest edge 20 then crop 16x16
    small = CrossLMMImageProcessor(ImageProcessorConfig(
        height=None, width=None, shortest_edge=20, do_center_crop=True, crop_height=16, crop_width=16,
        image_mean=config.image_mean, image_std=config.image_std))
    frames = _frames("random", 30, 45, count=2)  # -> 20x30 (int(20*45/30)), crop rows 2:18, cols 7:23
    resized = np.stack([pil_resize(f, (20, 30), 3) for f in frames])[:, 2:18, 7:23]
    reference = reference_preprocess(resized, None, 3, 1 / 255, config.image_mean, config.image_std)
    one_level = (1 / 255) / min(config.image_std)
    assert small(frames).shape == (2, 3, 16, 16)
    assert np.abs(small(frames).numpy() - reference).max() <= 2 * one_level + 1e-5


def test_shortest_edge_without_crop_is_a_square_tile():
    processor = CrossLMMImageProcessor.from_dict({"size": {"shortest_edge": 24}})
    assert processor(_frames("random", 30, 50)).shape == (3, 3, 24, 24)


def test_no_resize_no_rescale_no_normalize():
    frames = _frames("random", 9, 11)
    raw = CrossLMMImageProcessor.from_dict({"do_resize": False, "do_rescale": False, "do_normalize": False})(frames)
    assert torch.equal(raw, torch.from_numpy(frames).permute(0, 3, 1, 2).float())


def test_save_and_load_round_trip(tmp_path):
    config = ImageProcessorConfig(height=20, width=28, resample=2, image_mean=(0.1, 0.2, 0.3), image_std=(0.4, 0.5, 0.6))
    CrossLMMImageProcessor(config).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == "CrossLMMImageProcessor" and saved["size"] == {"height": 20, "width": 28}
    loaded = CrossLMMImageProcessor.from_pretrained(tmp_path)
    assert loaded.config == config
    frames = _frames("random", 30, 30)
    assert torch.equal(loaded(frames), CrossLMMImageProcessor(config)(frames))


@pytest.mark.parametrize(("data", "field"), [
    ({"size": {"height": 0, "width": 3}}, "size.height"),
    ({"size": {"longest_edge": 3}}, "size"),
    ({"resample": 7}, "resample"),
    ({"resample": "sinc"}, "resample"),
    ({"image_std": [0.5, 0.0, 0.5]}, "image_std"),
    ({"image_mean": [0.5, 0.5]}, "image_mean"),
    ({"rescale_factor": -1}, "rescale_factor"),
    ({"do_resize": "yes"}, "do_resize"),
    ({"do_center_crop": True}, "crop_size"),
])
def test_bad_config_values_name_the_file_and_field(tmp_path, data, field):
    path = tmp_path / "preprocessor_config.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CheckpointFileError) as err:
        CrossLMMImageProcessor.from_pretrained(tmp_path)
    assert str(path) in str(err.value) and field in str(err.value)


def test_missing_and_corrupt_config_files(tmp_path):
    with pytest.raises(CheckpointFileError, match="preprocessor_config.json: file is missing"):
        CrossLMMImageProcessor.from_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text('{"size": {"height": 3,')
    with pytest.raises(CheckpointFileError, match=r"preprocessor_config.json: not valid JSON"):
        CrossLMMImageProcessor.from_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").write_text("[1, 2]")
    with pytest.raises(CheckpointFileError, match="expected a JSON object"):
        CrossLMMImageProcessor.from_pretrained(tmp_path)


@pytest.mark.parametrize(("frames", "error", "message"), [
    (np.zeros((2, 8, 8, 3), np.float32), TypeError, "uint8"),
    (torch.zeros((2, 8, 8, 3)), TypeError, "uint8"),
    ([[0, 1]], TypeError, "numpy array or torch tensor"),
    (np.zeros((2, 3, 8, 8), np.uint8), ValueError, "channels-last"),
    (np.zeros((8, 8), np.uint8), ValueError, "channels-last"),
    (np.zeros((0, 8, 8, 3), np.uint8), ValueError, "no pixels"),
])
def test_bad_frames_raise_typed_errors(frames, error, message):
    with pytest.raises(error, match=message):
        CrossLMMImageProcessor(ImageProcessorConfig(height=4, width=4))(frames)


def test_rgba_is_refused_when_conversion_is_off():
    processor = CrossLMMImageProcessor.from_dict({"do_convert_rgb": False, "size": {"height": 4, "width": 4}})
    with pytest.raises(ValueError, match="4 channels and do_convert_rgb is off"):
        processor(np.zeros((1, 8, 8, 4), np.uint8))
