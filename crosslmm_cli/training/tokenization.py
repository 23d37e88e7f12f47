"""A conversation about a video -> input ids and labels, with the loss on the answers only.

The prompt is built by the same code that `crosslmm ask` uses (`CrossLMMProcessor.build_messages`:
the video placeholder, the time instruction naming each frame's time, then the question), so a
model is trained on exactly the prompts it will be asked with. The whole conversation is rendered
by the tokenizer's chat template and tokenized in one piece; the label mask comes from character
spans: a token is a target when it starts inside an answer or its end-of-turn token. The answers
are located by rendering the conversation turn by turn, so any template that renders a prefix of
the conversation as a prefix of the text works, Qwen2's included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crosslmm_cli.modeling.prompting import Turn

if TYPE_CHECKING:
    from crosslmm_cli.modeling.processing import CrossLMMProcessor

IGNORE_INDEX = -100  # label of positions without loss (prompt, video tokens, padding)


class TemplateError(ValueError):
    """The chat template renders conversations in a way answers cannot be located in."""


@dataclass(frozen=True)
class EncodedConversation:
    """input_ids and labels (same length; labels IGNORE_INDEX off the answers), video expanded."""

    input_ids: list[int]
    labels: list[int]

    @property
    def num_targets(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


def conversation_messages(
    processor: CrossLMMProcessor, turns: Sequence[Turn], *, timestamps: Sequence[float] | None, duration: float,
    segment: tuple[float, float] | None = None,
) -> list[dict[str, str]]:
    """Chat messages of a whole conversation, the video and its time instruction in the first turn
    (`timestamps=None`: a text-only conversation)."""
    if timestamps is None:
        return [message for question, answer in turns
                for message in ({"role": "user", "content": question}, {"role": "assistant", "content": answer})]
    *history, (question, answer) = turns
    messages = processor.build_messages(question, timestamps=timestamps, duration=duration, history=history or None,
                                        segment=segment)
    messages.append({"role": "assistant", "content": answer})
    return messages


def answer_spans(processor: CrossLMMProcessor, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character span of each answer plus its end-of-turn token."""
    tokenizer = processor.tokenizer
    render = tokenizer.apply_chat_template
    text = render(messages, tokenize=False)
    end_of_turn = tokenizer.eos_token or ""
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prefix = render(messages[:index], tokenize=False, add_generation_prompt=True)
        content = message["content"]
        if not text.startswith(prefix) or not text.startswith(content, len(prefix)):
            raise TemplateError("the chat template does not render the conversation turn by turn "
                                "(a prefix of the chat is not a prefix of its text)")
        end = len(prefix) + len(content)
        if end_of_turn and text.startswith(end_of_turn, end):
            end += len(end_of_turn)  # learn to stop: the end-of-turn token is a target too
        spans.append((len(prefix), end))
    return text, spans


def encode_conversation(
    processor: CrossLMMProcessor,
    turns: Sequence[Turn],
    *,
    timestamps: Sequence[float] | None,
    duration: float,
    max_length: int | None = None,
    segment: tuple[float, float] | None = None,
) -> EncodedConversation:
    """Token ids and labels of one conversation about a video of `len(timestamps)` frames
    (`timestamps=None`: text only, no video).

    The single `<video>` id is expanded to the processor's T*tokens_per_frame (+1) video ids.
    `max_length` cuts the sequence at its end (later answers lose their tail).
    """
    messages = conversation_messages(processor, turns, timestamps=timestamps, duration=duration, segment=segment)
    text, spans = answer_spans(processor, messages)
    encoding = processor.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    video_id = processor.video_token_id
    expansion = processor.num_video_tokens(len(timestamps)) if timestamps is not None else 0
    input_ids: list[int] = []
    labels: list[int] = []
    span_index = 0
    for token, (start, _end) in zip(encoding["input_ids"], encoding["offset_mapping"]):
        if token == video_id:
            input_ids.extend([video_id] * expansion)
            labels.extend([IGNORE_INDEX] * expansion)
            continue
        while span_index < len(spans) and start >= spans[span_index][1]:
            span_index += 1
        inside = span_index < len(spans) and spans[span_index][0] <= start < spans[span_index][1]
        input_ids.append(token)
        labels.append(token if inside else IGNORE_INDEX)
    if input_ids.count(video_id) != expansion:
        expected = f"one {processor.video_token} placeholder" if expansion else f"no {processor.video_token} in a text-only conversation"
        raise TemplateError(f"expected {expected} in the rendered conversation")
    if max_length is not None and len(input_ids) > max_length:
        last_video = len(input_ids) - 1 - input_ids[::-1].index(video_id) if expansion else -1
        if last_video >= max_length:
            raise TemplateError(f"max_length={max_length} cuts into the {expansion} video tokens")
        input_ids, labels = input_ids[:max_length], labels[:max_length]
    return EncodedConversation(input_ids=input_ids, labels=labels)
