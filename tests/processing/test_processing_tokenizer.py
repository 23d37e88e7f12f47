"""build_tokenizer: byte-level BPE with Qwen2's special tokens and chat template."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from processing_reference import CORPUS
from transformers import AutoTokenizer

from crosslmm_cli.modeling.tokenizer import QWEN2_CHAT_TEMPLATE, SPECIAL_TOKENS, build_tokenizer

UNSEEN_TEXTS = [
    "Zebra jumps over 42 fences ~ {json: [1, 2]}",
    "日本語のテキストと中文 and émojis 🎬🎥",
    "tabs\tand\nnewlines\r\n  double  spaces ",
    "\x00\x7f control bytes",
]


def test_special_tokens_are_single_ids_and_roles_are_set(tokenizer):
    ids = [tokenizer.convert_tokens_to_ids(token) for token in SPECIAL_TOKENS]
    assert ids == [0, 1, 2, 3]
    for token, token_id in zip(SPECIAL_TOKENS, ids):
        assert tokenizer.encode(f"a{token}b", add_special_tokens=False).count(token_id) == 1
    assert (tokenizer.eos_token, tokenizer.pad_token) == ("<|im_end|>", "<|endoftext|>")
    assert tokenizer.video_token == "<video>"
    assert tokenizer.unk_token is None


def test_any_text_encodes_and_decodes_back_unchanged(tokenizer):
    for text in UNSEEN_TEXTS:
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert all(0 <= i < len(tokenizer) for i in ids)
        assert tokenizer.decode(ids) == text


def test_training_learns_merges_from_the_corpus(tokenizer):
    # 'frame' is frequent in the corpus: it must be shorter than its 5 bytes after training
    assert len(tokenizer.encode(" frame", add_special_tokens=False)) < 3
    assert 256 + len(SPECIAL_TOKENS) < len(tokenizer) <= 400


def test_digits_are_split_one_by_one_as_in_qwen2(tokenizer):
    pieces = tokenizer.convert_ids_to_tokens(tokenizer.encode("12.50s", add_special_tokens=False))
    assert pieces[:2] == ["1", "2"] and "5" in pieces and "0" in pieces


def test_same_corpus_gives_the_same_tokenizer_even_in_another_process(tokenizer):
    again = build_tokenizer(CORPUS, vocab_size=400)
    assert again.backend_tokenizer.to_str() == tokenizer.backend_tokenizer.to_str()
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r});"
        "from processing_reference import CORPUS;"
        "from crosslmm_cli.modeling.tokenizer import build_tokenizer;"
        "print(build_tokenizer(CORPUS, vocab_size=400).backend_tokenizer.to_str())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert json.loads(other) == json.loads(tokenizer.backend_tokenizer.to_str())


def test_chat_template_is_qwen2s(tokenizer):
    messages = [
        {"role": "user", "content": "<video>\nWhat moves?"},
        {"role": "assistant", "content": "A red ball."},
        {"role": "user", "content": "Where to?"},
    ]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<video>\nWhat moves?<|im_end|>\n"
        "<|im_start|>assistant\nA red ball.<|im_end|>\n"
        "<|im_start|>user\nWhere to?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    with_system = [{"role": "system", "content": "Be brief."}, messages[0]]
    text = tokenizer.apply_chat_template(with_system, tokenize=False, add_generation_prompt=False)
    assert text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<video>\nWhat moves?<|im_end|>\n"
    assert tokenizer.chat_template == QWEN2_CHAT_TEMPLATE


def test_save_and_load_with_auto_tokenizer(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path, trust_remote_code=False)
    for text in UNSEEN_TEXTS + CORPUS[:3]:
        assert loaded.encode(text) == tokenizer.encode(text)
    assert loaded.chat_template == tokenizer.chat_template
    assert (loaded.eos_token, loaded.pad_token, loaded.video_token) == ("<|im_end|>", "<|endoftext|>", "<video>")
    assert loaded.decode([1, 2, 3], skip_special_tokens=True) == ""


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"vocab_size": 100}, ValueError, "vocab_size must be an integer >= 260"),
    ({"min_frequency": 0}, ValueError, "min_frequency"),
])
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        build_tokenizer(CORPUS, **kwargs)


def test_corpus_must_hold_strings():
    with pytest.raises(TypeError, match="not one string"):
        build_tokenizer("just one text")
    with pytest.raises(TypeError, match="corpus item 1 is int"):
        build_tokenizer(["fine", 3])
