"""A small Qwen2-style tokenizer trained on a given corpus: for tiny test models and the demo model.

Real checkpoints bring their own tokenizer (Qwen2's, from the converted LLaVA-OneVision directory).
Models built from scratch need one whose vocabulary fits their size: `build_tokenizer` trains a
byte-level BPE with Qwen2's pre-tokenizer (digits split one by one, which keeps times such as
"12.50s" learnable for a tiny model), Qwen2's special tokens and Qwen2's chat template.

Byte level means every string encodes (no unknown token) and decodes back unchanged, whatever
text the corpus held. Training is deterministic: the same corpus gives the same vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

ENDOFTEXT_TOKEN = "<|endoftext|>"  # padding, and end of document in pretraining text
IM_START_TOKEN = "<|im_start|>"
IM_END_TOKEN = "<|im_end|>"  # end of a chat turn: the eos of a chat model
VIDEO_TOKEN = "<video>"  # the video placeholder; the processor expands it to the visual tokens
SPECIAL_TOKENS = (ENDOFTEXT_TOKEN, IM_START_TOKEN, IM_END_TOKEN, VIDEO_TOKEN)  # ids 0, 1, 2, 3

#: Qwen2-Instruct's chat template (the `conv_qwen` format LLaVA-OneVision was trained with):
#: a default system turn, then ``<|im_start|>{role}\n{content}<|im_end|>\n`` per message.
QWEN2_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

#: Qwen2's pre-tokenizer split (from its tokenizer.json): contractions, letter runs, single digits,
#: punctuation runs, newlines, spaces.
QWEN2_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_NUM_BYTES = 256


def build_tokenizer(
    corpus: Iterable[str],
    vocab_size: int = 1024,
    *,
    chat_template: str = QWEN2_CHAT_TEMPLATE,
    min_frequency: int = 2,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on `corpus` and wrap it as a transformers tokenizer.

    `vocab_size` counts the 256 byte tokens, the 4 special tokens (ids 0-3: `<|endoftext|>`,
    `<|im_start|>`, `<|im_end|>`, `<video>`) and the merges; a corpus too small to fill it gives a
    smaller vocabulary (`len(tokenizer)` tells). eos is `<|im_end|>` (chat), pad `<|endoftext|>`.
    Save it with `save_pretrained(dir)`, load it with `AutoTokenizer.from_pretrained(dir)`.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    minimum = _NUM_BYTES + len(SPECIAL_TOKENS)
    if not (isinstance(vocab_size, int) and vocab_size >= minimum):
        raise ValueError(f"vocab_size must be an integer >= {minimum} (256 bytes + 4 special tokens), got {vocab_size!r}")
    if not (isinstance(min_frequency, int) and min_frequency >= 1):
        raise ValueError(f"min_frequency must be a positive integer, got {min_frequency!r}")
    if isinstance(corpus, str):
        raise TypeError("corpus must be an iterable of texts, not one string (wrap it in a list)")

    tokenizer = Tokenizer(models.BPE())  # byte-level: no unk token is ever needed
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, seen or not
        show_progress=False,
    )
    tokenizer.train_from_iterator(_checked_texts(corpus), trainer=trainer)

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=IM_END_TOKEN,
        pad_token=ENDOFTEXT_TOKEN,
        extra_special_tokens={"video_token": VIDEO_TOKEN},  # tokenizer.video_token, as llava-hf has
        chat_template=chat_template,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def _checked_texts(corpus: Iterable[str]) -> Iterable[str]:
    for i, text in enumerate(corpus):
        if not isinstance(text, str):
            raise TypeError(f"corpus item {i} is {type(text).__name__}, expected str")
        yield text
