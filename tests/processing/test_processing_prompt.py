"""Prompt building: time instruction, subtitles, history, and the chat template around them."""

from __future__ import annotations

import re

import numpy as np
import pytest

from crosslmm_cli.modeling.image_processing import CrossLMMImageProcessor, ImageProcessorConfig
from crosslmm_cli.modeling.processing import CrossLMMProcessor
from crosslmm_cli.modeling.prompting import build_messages, subtitle_block, time_instruction

LLAVA_VIDEO_SUFFIX = "Please answer the following questions related to this video."


@pytest.fixture
def processor(tokenizer):
    return CrossLMMProcessor(
        CrossLMMImageProcessor(ImageProcessorConfig(height=16, width=16)), tokenizer, tokens_per_frame=4, video_newline=True
    )


def test_uniform_sampling_uses_llava_videos_exact_sentence():
    # LLaVA-Video's training prompt, character for character (including ".Please")
    expected = (
        "The video lasts for 12.00 seconds, and 4 frames are uniformly sampled from it. "
        "These frames are located at 0.00s,4.00s,8.00s,12.00s.Please answer the following questions related to this video."
    )
    assert time_instruction([0, 4, 8, 12], 12) == expected


def test_frame_grid_rounding_still_counts_as_uniform():
    fps, num_frames = 29.97, 300
    indices = np.linspace(0, num_frames - 1, 16).astype(int)  # LLaVA-Video's sampling
    text = time_instruction(indices / fps, num_frames / fps)
    assert "16 frames are uniformly sampled from it." in text
    assert len(re.findall(r"\d+\.\d\ds[,.]", text)) == 16
    assert f"located at 0.00s,{indices[1] / fps:.2f}s," in text and f",{indices[-1] / fps:.2f}s.Please" in text


def test_uneven_sampling_is_not_called_uniform():
    text = time_instruction([0.0, 0.5, 1.0, 6.0, 9.5], 10.0)
    assert "5 frames are sampled from it." in text and "uniformly" not in text
    assert "0.00s,0.50s,1.00s,6.00s,9.50s." in text


def test_segment_is_described_and_whole_video_segment_is_not():
    text = time_instruction([60, 70, 80], 300, segment=(60, 80))
    assert "3 frames are uniformly sampled from the part between 60.00s and 80.00s." in text
    assert "The video lasts for 300.00 seconds" in text
    assert "sampled from it." in time_instruction([0, 5, 10], 10, segment=(0, 10))


def test_single_frame_is_grammatical():
    assert time_instruction([2.5], 5.0).startswith(
        "The video lasts for 5.00 seconds, and 1 frame is sampled from it. This frame is located at 2.50s."
    )


def test_subtitles_are_filtered_to_the_segment_sorted_and_timed():
    subtitles = [(12.0, 14.5, "Later  line\nwrapped"), (1.0, 2.0, "Hello"), (30.0, 31.0, "outside"), (9.5, 10.2, "edge")]
    assert subtitle_block(subtitles, segment=(5.0, 20.0)) == (
        "This video's subtitles are listed below:\n[9.50s - 10.20s] edge\n[12.00s - 14.50s] Later line wrapped"
    )
    assert subtitle_block(subtitles, segment=(40.0, 50.0)) is None
    assert subtitle_block([(0.0, 1.0, "   ")]) is None
    assert subtitle_block(subtitles).count("\n[") == 4


def test_messages_put_the_video_once_in_the_first_user_turn():
    messages = build_messages(
        "And then?",
        timestamps=[0, 1, 2],
        duration=3,
        video_token="<video>",
        subtitles=[(0.5, 1.0, "hi")],
        history=[("What is red?", "The ball."), ("Where does it go?", "Left.")],
        system="Answer briefly.",
    )
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    first = messages[1]["content"].split("\n")
    assert first[0] == "<video>" and first[1].startswith("The video lasts for 3.00 seconds")
    assert first[2:] == ["This video's subtitles are listed below:", "[0.50s - 1.00s] hi", "What is red?"]
    assert [m["content"] for m in messages[2:]] == ["The ball.", "Where does it go?", "Left.", "And then?"]
    assert sum(m["content"].count("<video>") for m in messages) == 1


def test_build_prompt_is_the_tokenizers_own_template_output(processor, tokenizer):
    kwargs = dict(timestamps=[0.0, 1.5, 3.0], duration=3.0, subtitles=[(1.0, 2.0, "Go!")], history=[("Q1?", "A1.")])
    prompt = processor.build_prompt("What happens at 1:30?", **kwargs)
    messages = processor.build_messages("What happens at 1:30?", **kwargs)
    assert prompt == tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert prompt == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<video>\n"
        "The video lasts for 3.00 seconds, and 3 frames are uniformly sampled from it. "
        "These frames are located at 0.00s,1.50s,3.00s." + LLAVA_VIDEO_SUFFIX + "\n"
        "This video's subtitles are listed below:\n[1.00s - 2.00s] Go!\nQ1?<|im_end|>\n"
        "<|im_start|>assistant\nA1.<|im_end|>\n"
        "<|im_start|>user\nWhat happens at 1:30?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_system_prompt_replaces_the_default(processor):
    prompt = processor.build_prompt("Q?", timestamps=[0], duration=1, system="You watch videos.")
    assert prompt.startswith("<|im_start|>system\nYou watch videos.<|im_end|>\n<|im_start|>user\n<video>\n")
    assert "You are a helpful assistant." not in prompt


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"question": "what is <video>?"}, "question contains the video placeholder"),
    ({"history": [("a <video>", "b")]}, r"history\[0\] question contains"),
    ({"history": [("a", "b"), ("c",)]}, r"history\[1\]: expected a \(question, answer\) pair"),
    ({"history": [("a", 3)]}, r"history\[0\] answer must be a string"),
    ({"system": "<video>"}, "system contains"),
    ({"timestamps": []}, "timestamps must be a non-empty sequence"),
    ({"timestamps": [0, 2, 1]}, "playback order"),
    ({"timestamps": [-1, 0]}, "non-negative"),
    ({"timestamps": ["0s"]}, "timestamps must be"),
    ({"duration": -3}, "duration must be"),
    ({"duration": float("nan")}, "duration must be"),
    ({"segment": (5, 1)}, "segment must satisfy"),
    ({"subtitles": [(1, 0.5, "x")]}, r"subtitle 0: expected 0 <= start <= end"),
    ({"subtitles": [(0, 1)]}, r"subtitle 0: expected \(start, end, text\)"),
    ({"subtitles": [(0, 1, None)]}, "subtitle 0: text must be a string"),
])
def test_bad_prompt_inputs_raise_value_errors(kwargs, message):
    args = {"question": "Q?", "timestamps": [0, 1], "duration": 2, "video_token": "<video>", **kwargs}
    with pytest.raises(ValueError, match=message):
        build_messages(args.pop("question"), **args)


def test_long_even_sampling_is_described_compactly_and_uneven_sampling_is_still_listed():
    times = [i * 14.0625 for i in range(256)]  # 256 frames over an hour, as the keyframe-snapped sampler gives
    text = time_instruction(times, 3600.0)
    assert "located at 0.00s, then every 14.06s up to 3585.94s." in text
    assert len(text) < 250  # listing would take ~2,300 characters (about 2,000 tokens)
    uneven = [0.0, 1.0] + [10.0 + i for i in range(40)]
    assert len(re.findall(r"\d\.\d\ds,", time_instruction(uneven, 60.0))) == len(uneven) - 1
    assert len(re.findall(r"\d\.\d\ds,", time_instruction(times[:32], 3600.0))) == 31  # at the threshold: listed
