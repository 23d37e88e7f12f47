"""`init`: a CrossLMM from a SigLIP checkpoint and a Qwen2 LLM computes what the LLM computes."""

from __future__ import annotations

import pytest
import torch

from crosslmm_cli.errors import CheckpointError
from crosslmm_cli.checkpoints.loader import load_model
from crosslmm_cli.modeling.tokenizer import QWEN2_CHAT_TEMPLATE
from crosslmm_cli.training.init_model import init_crosslmm


def test_init_keeps_both_models_and_adds_the_video_token(parts, tmp_path):
    root, siglip, qwen = parts
    init_crosslmm(root / "siglip", root / "qwen", tmp_path / "new", tokens_per_frame=4, cross_attention_period=2)
    model, processor = load_model(tmp_path / "new", quantize="none", device="cpu")
    config = model.config
    vocab = qwen.config.vocab_size
    assert config.cross_attention_layers == [1, 3] and config.tokens_per_frame == 4
    assert processor.video_token_id == config.video_token_id == vocab  # added after the LLM's tokens
    assert config.text_config.vocab_size == vocab + 1 and processor.tokenizer.chat_template == QWEN2_CHAT_TEMPLATE
    vision = dict(model.model.vision_tower.named_parameters())
    for name, param in siglip.vision_model.named_parameters():
        if not name.startswith("head."):
            assert torch.equal(vision[name], param), name
    gates = [p for n, p in model.named_parameters() if n.endswith(("gate_v2v", "gate_t2v"))]
    assert len(gates) == 4 and all(not g.any() for g in gates)
    # Text alone: exactly the LLM (its logits over the old vocabulary).
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits[..., :vocab], qwen(input_ids=ids).logits, rtol=0, atol=1e-5)
    # With a video: it runs, and with zero gates equals the same model with cross-attention shut.
    prompt = processor.build_prompt("What colour is the video?", timestamps=[0.0, 1.0], duration=2.0)
    inputs = processor(text=prompt, videos=torch.zeros(2, 32, 32, 3, dtype=torch.uint8).numpy())
    with torch.no_grad():
        on = model(**inputs).logits
        off = model(**inputs, cross_attention=[]).logits
    torch.testing.assert_close(on, off, rtol=0, atol=0)


def test_init_refuses_models_of_the_wrong_kind(parts, tmp_path):
    root, _, _ = parts
    with pytest.raises(CheckpointError, match="expected a Qwen2-family LLM"):
        init_crosslmm(root / "siglip", root / "siglip", tmp_path / "x")
    with pytest.raises(CheckpointError, match="expected SigLIP or SigLIP2"):
        init_crosslmm(root / "qwen", root / "qwen", tmp_path / "x")
