"""CrossLMMProcessor: placeholder expansion, padding, pixel values, save/load and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from crosslmm_cli.modeling.checkpoint_files import CheckpointFileError
from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor, ImageProcessorConfig
from crosslmm_cli.modeling.processing import CrossLMMProcessor

RNG = np.random.default_rng(7)


def _processor(tokenizer, tokens_per_frame=4, video_newline=True, size=16):
    image_processor = CrossLMMImageProcessor(ImageProcessorConfig(height=size, width=size))
    return CrossLMMProcessor(image_processor, tokenizer, tokens_per_frame=tokens_per_frame, video_newline=video_newline)


def _video(frames=3, height=20, width=30):
    return RNG.integers(0, 256, (frames, height, width, 3), dtype=np.uint8)


def _prompt(processor, question="What moves?", frames=3):
    return processor.build_prompt(question, timestamps=list(range(frames)), duration=float(frames))


@pytest.mark.parametrize("tokens_per_frame", [1, 4, 9, 16, 196])
@pytest.mark.parametrize("video_newline", [False, True])
def test_placeholder_expands_to_frames_times_tokens_per_frame(tokenizer, tokens_per_frame, video_newline):
    processor = _processor(tokenizer, tokens_per_frame, video_newline)
    text = _prompt(processor, frames=5)
    batch = processor(text, _video(frames=5))
    ids = batch["input_ids"][0].tolist()
    expected = 5 * tokens_per_frame + int(video_newline)
    assert ids.count(processor.video_token_id) == expected == processor.num_video_tokens(5)
    # the expansion is one contiguous run, and everything else is the text's own tokenization
    start = ids.index(processor.video_token_id)
    assert ids[start : start + expected] == [processor.video_token_id] * expected
    assert ids[:start] + [processor.video_token_id] + ids[start + expected :] == tokenizer.encode(text, add_special_tokens=False)
    assert batch["attention_mask"].tolist() == [[1] * len(ids)]
    assert batch["pixel_values_videos"].shape == (1, 5, 3, 16, 16)


def test_batch_is_left_padded_and_each_row_equals_the_item_alone(tokenizer):
    processor = _processor(tokenizer)
    texts = [_prompt(processor, "Which colour is the ball that moves to the left?"), _prompt(processor, "Why?")]
    videos = [_video(), _video()]
    batch = processor(texts, videos)
    input_ids, mask = batch["input_ids"], batch["attention_mask"]
    assert input_ids.dtype == mask.dtype == torch.long
    for row, (text, video) in enumerate(zip(texts, videos)):
        alone = processor(text, video)["input_ids"][0]
        pad = input_ids.shape[1] - alone.shape[0]
        assert torch.equal(input_ids[row, pad:], alone)
        assert (input_ids[row, :pad] == tokenizer.pad_token_id).all()
        assert mask[row].tolist() == [0] * pad + [1] * alone.shape[0]
    assert mask[1, 0] == 0 and mask[0].all()  # the short one is the padded one
    expected = torch.stack([processor.image_processor(v) for v in videos])
    assert torch.equal(batch["pixel_values_videos"], expected)


def test_right_padding_on_request(tokenizer):
    processor = _processor(tokenizer)
    batch = processor(["a longer text here", "b"], padding_side="right")
    assert batch["attention_mask"][1].tolist()[:1] == [1] and batch["attention_mask"][1, -1] == 0
    assert "pixel_values_videos" not in batch


def test_several_videos_are_stacked_in_placeholder_order(tokenizer):
    processor = _processor(tokenizer, tokens_per_frame=1, video_newline=False)
    first, second = _video(frames=2), _video(frames=2)
    batch = processor(["<video> then <video>"], [first, second])
    assert batch["input_ids"][0].tolist().count(processor.video_token_id) == 4
    assert torch.equal(batch["pixel_values_videos"][0], processor.image_processor(first))
    assert torch.equal(batch["pixel_values_videos"][1], processor.image_processor(second))


def test_num_frames_expands_placeholders_for_precomputed_features(tokenizer):
    processor = _processor(tokenizer, tokens_per_frame=9)
    text = _prompt(processor, frames=6)
    with_pixels = processor(text, _video(frames=6))
    without = processor(text, num_frames=6)
    assert torch.equal(with_pixels["input_ids"], without["input_ids"])
    assert "pixel_values_videos" not in without


def test_single_image_is_a_one_frame_video(tokenizer):
    processor = _processor(tokenizer, tokens_per_frame=4, video_newline=False)
    batch = processor("<video> what?", _video(frames=1)[0])
    assert batch["pixel_values_videos"].shape == (1, 1, 3, 16, 16)
    assert batch["input_ids"][0].tolist().count(processor.video_token_id) == 4


def test_save_and_load_round_trip(tokenizer, tmp_path):
    processor = _processor(tokenizer, tokens_per_frame=9, video_newline=True, size=24)
    processor.save_pretrained(tmp_path / "ckpt")
    saved = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert {"processor_config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"} <= set(saved)
    assert json.loads((tmp_path / "ckpt" / "processor_config.json").read_text()) == {
        "processor_class": "CrossLMMProcessor", "tokens_per_frame": 9, "video_newline": True, "video_token": "<video>"
    }
    loaded = CrossLMMProcessor.from_pretrained(tmp_path / "ckpt")
    assert (loaded.tokens_per_frame, loaded.video_newline, loaded.video_token_id) == (9, True, processor.video_token_id)
    texts = [_prompt(processor, "Qué pasa al final? 🎬"), _prompt(loaded, "Why?")]
    videos = [_video(), _video()]
    before, after = processor(texts, videos), loaded(texts, videos)
    for key in ("input_ids", "attention_mask", "pixel_values_videos"):
        assert torch.equal(before[key], after[key]), key
    assert loaded.build_prompt("x", timestamps=[0], duration=1) == processor.build_prompt("x", timestamps=[0], duration=1)


def test_decode_passthroughs(tokenizer):
    processor = _processor(tokenizer)
    ids = tokenizer.encode("<|im_start|>assistant\nA red ball.<|im_end|>", add_special_tokens=False)
    assert processor.decode(ids) == tokenizer.decode(ids)
    assert processor.decode(ids, skip_special_tokens=True) == "assistant\nA red ball."
    assert processor.batch_decode([ids, ids[:2]]) == tokenizer.batch_decode([ids, ids[:2]])


@pytest.mark.parametrize(("call", "message"), [
    (lambda p: p("<video> <video>", [_video()]), r"2 <video> placeholder\(s\) but 1 video\(s\)"),
    (lambda p: p("no placeholder", [_video()]), r"0 <video> placeholder\(s\) but 1 video"),
    (lambda p: p("<video>"), "no videos were given"),
    (lambda p: p("text", num_frames=4), "num_frames was given but the text has no <video>"),
    (lambda p: p("<video>", num_frames=0), "num_frames must be a positive integer"),
    (lambda p: p(["<video>", "<video>"], [_video(frames=3), _video(frames=4)]), r"same number of frames, got \[3, 4\]"),
    (lambda p: p("<video>", [_video(frames=3)], num_frames=4), "num_frames=4 but the videos have 3 frames"),
    (lambda p: p("<video>", [_video()], return_tensors="np"), "return_tensors must be 'pt'"),
    (lambda p: p("x", padding_side="middle"), "padding_side must be"),
    (lambda p: p([]), "non-empty list of strings"),
    (lambda p: p(["ok", 3]), "non-empty list of strings"),
    (lambda p: p("<video>", {"frames": 1}), "videos must be a uint8 array"),
])
def test_bad_calls_raise_value_errors(tokenizer, call, message):
    with pytest.raises(ValueError, match=message):
        call(_processor(tokenizer))


def test_bad_video_pixels_raise_typed_errors(tokenizer):
    with pytest.raises(TypeError, match="uint8"):
        _processor(tokenizer)("<video>", [np.zeros((2, 8, 8, 3), np.float32)])


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tokens_per_frame": 0}, "tokens_per_frame must be a positive integer"),
    ({"tokens_per_frame": True}, "tokens_per_frame must be a positive integer"),
    ({"video_newline": "yes"}, "video_newline must be true or false"),
    ({"video_token": "<image>"}, "no single token for the video placeholder '<image>'"),
])
def test_bad_constructor_arguments(tokenizer, kwargs, message):
    args = {"tokens_per_frame": 4, "video_newline": True, **kwargs}
    with pytest.raises(ValueError, match=message):
        CrossLMMProcessor(CrossLMMImageProcessor(), tokenizer, **args)


@pytest.fixture
def saved(tokenizer, tmp_path):
    directory = tmp_path / "ckpt"
    _processor(tokenizer).save_pretrained(directory)
    return directory


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    for key, value in changes.items():
        if value is None:
            del data[key]
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(("damage", "file", "message"), [
    (lambda d: (d / "processor_config.json").unlink(), "processor_config.json", "file is missing"),
    (lambda d: (d / "processor_config.json").write_text("{oops"), "processor_config.json", "not valid JSON"),
    (lambda d: _edit_json(d / "processor_config.json", tokens_per_frame=0), "processor_config.json",
     "field 'tokens_per_frame': expected a positive integer, got 0"),
    (lambda d: _edit_json(d / "processor_config.json", video_newline=None), "processor_config.json",
     "field 'video_newline' is missing"),
    (lambda d: _edit_json(d / "processor_config.json", processor_class="LlavaOnevisionProcessor"),
     "processor_config.json", "processor_class is 'LlavaOnevisionProcessor'"),
    (lambda d: _edit_json(d / "processor_config.json", video_token="<image>"), "tokenizer.json",
     "no single token for the video placeholder '<image>'"),
    (lambda d: (d / "preprocessor_config.json").unlink(), "preprocessor_config.json", "file is missing"),
    (lambda d: (d / "tokenizer_config.json").unlink(), "tokenizer_config.json", "file is missing"),
    (lambda d: (d / "tokenizer.json").write_text('{"version": "1.0", "truncated'), "tokenizer.json", "not valid JSON"),
    (lambda d: (d / "tokenizer.json").write_text('{"version": "1.0"}'), "tokenizer.json", "cannot load the tokenizer"),
])
def test_broken_checkpoint_files_are_named(saved, damage, file, message):
    damage(saved)
    with pytest.raises(CheckpointFileError) as err:
        CrossLMMProcessor.from_pretrained(saved)
    assert str(err.value).startswith(str(saved / file) + ": ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(CheckpointFileError, match="no such directory"):
        CrossLMMProcessor.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointFileError, match="not a directory"):
        CrossLMMProcessor.from_pretrained(tmp_path / "file")


@pytest.mark.parametrize("custom_class", [False, True])
def test_code_in_the_checkpoint_is_never_run(saved, tmp_path, custom_class):
    marker = tmp_path / "code-ran"
    (saved / "evil_tokenizer.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    changes = {"auto_map": {"AutoTokenizer": [None, "evil_tokenizer.EvilTokenizer"]}}
    if custom_class:  # a class only the repository's code defines: refused
        changes["tokenizer_class"] = "EvilTokenizer"
    _edit_json(saved / "tokenizer_config.json", **changes)
    if custom_class:
        with pytest.raises(CheckpointFileError, match="tokenizer.json: cannot load the tokenizer: .*custom code"):
            CrossLMMProcessor.from_pretrained(saved)
    else:  # the built-in class is used and auto_map ignored
        assert CrossLMMProcessor.from_pretrained(saved).video_token_id == 3
    assert not marker.exists()
