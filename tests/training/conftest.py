"""Fixtures of the training tests: tiny clips and checkpoints on disk, one torch thread."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from training_fixtures import COLOURS, QUESTION, VISION, colour_clip, tiny_checkpoint, tokenizer_without_video_token, write_video


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread: OpenMP's sync costs more than a 32-wide matmul, and far
    more when other processes share the cores (`crosslmm bench train-step`). Restored after each
    module, so other test areas keep torch's default."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def colour_data(tmp_path_factory) -> Path:
    """videos/<colour>.mp4 and train.jsonl asking each clip's colour (answers differ per clip)."""
    root = tmp_path_factory.mktemp("colours")
    (root / "videos").mkdir()
    lines = []
    for index, (name, rgb) in enumerate(COLOURS.items()):
        write_video(root / "videos" / f"{name}.mp4", colour_clip(rgb, seed=index))
        lines.append({"id": name, "video": f"videos/{name}.mp4",
                      "conversations": [{"from": "human", "value": f"<video>\n{QUESTION}"},
                                        {"from": "gpt", "value": f"The video is {name}."}]})
    (root / "train.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def parts(tmp_path_factory):
    """A tiny whole-SigLIP checkpoint and a tiny Qwen2 LLM with that tokenizer, saved as `init` reads them."""
    from transformers import Qwen2Config, Qwen2ForCausalLM, SiglipConfig, SiglipModel

    root = tmp_path_factory.mktemp("parts")
    torch.manual_seed(0)
    siglip = SiglipModel(SiglipConfig(vision_config=VISION, text_config={
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 99,
        "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}))
    siglip.save_pretrained(root / "siglip")
    tokenizer = tokenizer_without_video_token()
    qwen = Qwen2ForCausalLM(Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
                                        num_key_value_heads=2, vocab_size=len(tokenizer), tie_word_embeddings=False))
    qwen.save_pretrained(root / "qwen")
    tokenizer.save_pretrained(root / "qwen")
    return root, siglip, qwen
