"""Answer-only labels, checked against the chat template's real token layout."""

from __future__ import annotations

import pytest
from training_fixtures import tiny_processor

from crosslmm_cli.training.tokenization import IGNORE_INDEX, encode_conversation

TIMES = [0.25, 0.75, 1.25, 1.75]


def labelled_runs(encoded):
    """Maximal runs of consecutive target positions, as token lists."""
    runs, current = [], []
    for token, label in zip(encoded.input_ids, encoded.labels):
        if label != IGNORE_INDEX:
            assert label == token
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    return runs + ([current] if current else [])


def test_only_answers_and_their_end_of_turn_are_targets():
    processor = tiny_processor()
    turns = [("What colour is the video?", "The video is red."), ("Describe the video.", "The video is blue.")]
    encoded = encode_conversation(processor, turns, timestamps=TIMES, duration=2.0)
    tokenizer = processor.tokenizer
    runs = [tokenizer.decode(run) for run in labelled_runs(encoded)]
    assert runs == ["The video is red.<|im_end|>", "The video is blue.<|im_end|>"]
    # The ids are exactly the chat template's rendering of the conversation (video expanded).
    messages = processor.build_messages("Describe the video.", timestamps=TIMES, duration=2.0,
                                        history=[turns[0]]) + [{"role": "assistant", "content": turns[1][1]}]
    reference = tokenizer(tokenizer.apply_chat_template(messages, tokenize=False), add_special_tokens=False)["input_ids"]
    video = processor.video_token_id
    expanded = [t for token in reference for t in ([token] * processor.num_video_tokens(4) if token == video else [token])]
    assert encoded.input_ids == expanded
    # Each target run starts right after "<|im_start|>assistant\n".
    prefix = tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    first_target = encoded.labels.index(next(label for label in encoded.labels if label != IGNORE_INDEX))
    assert encoded.input_ids[first_target - len(prefix) : first_target] == prefix
    assert encoded.input_ids.count(video) == 4 * processor.tokens_per_frame + 1


def test_the_prompt_part_matches_what_ask_sends():
    processor = tiny_processor()
    encoded = encode_conversation(processor, [("What colour is the video?", "Red.")], timestamps=TIMES, duration=2.0)
    prompt = processor.build_prompt("What colour is the video?", timestamps=TIMES, duration=2.0)
    asked = processor(text=prompt, num_frames=4)["input_ids"][0].tolist()
    assert encoded.input_ids[: len(asked)] == asked
    assert all(label == IGNORE_INDEX for label in encoded.labels[: len(asked)])
    assert all(label != IGNORE_INDEX for label in encoded.labels[len(asked) :-1])


def test_max_length_cuts_answers_not_the_video():
    processor = tiny_processor()
    full = encode_conversation(processor, [("What colour is the video?", "The video is red.")], timestamps=TIMES, duration=2.0)
    cut = encode_conversation(processor, [("What colour is the video?", "The video is red.")], timestamps=TIMES,
                              duration=2.0, max_length=len(full.input_ids) - 2)
    assert cut.input_ids == full.input_ids[:-2] and cut.labels == full.labels[:-2]
    assert cut.num_targets == full.num_targets - 1  # the template's final "\n" was never a target
    with pytest.raises(ValueError, match="cuts into the 17 video tokens"):
        encode_conversation(processor, [("q", "a")], timestamps=TIMES, duration=2.0, max_length=20)
