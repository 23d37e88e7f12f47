"""LoRA and QLoRA: adapters on the LLM's linear layers, and checkpoints that load as plain models."""

from __future__ import annotations

import re

import pytest
import torch
from safetensors.torch import load_file
from training_fixtures import tiny_checkpoint, tiny_processor

from crosslmm_cli.checkpoints.loader import load_model
from crosslmm_cli.training.dataset import ConversationDataset, pad_batch
from crosslmm_cli.engine.options import FrameOptions as FrameSampling
from crosslmm_cli.training.frame_cache import FrameLoader
from crosslmm_cli.training.groups import plan_for
from crosslmm_cli.training.loop import LoopSettings
from crosslmm_cli.training.model_setup import ModelSettings, save_plain_checkpoint
from crosslmm_cli.training.optim import OptimizerSettings
from crosslmm_cli.training.records import read_conversations
from crosslmm_cli.training.sft import TrainSettings, prepare_model, train

pytest.importorskip("peft")

# bitsandbytes' CPU 4-bit kernels need input widths that are multiples of its 64-value blocks.
WIDE = {"text_config": {"hidden_size": 64, "intermediate_size": 128}}


@pytest.fixture(scope="module")
def batch(colour_data):
    processor = tiny_processor()
    conversations, _ = read_conversations(colour_data / "train.jsonl")
    dataset = ConversationDataset(conversations[:2], processor, FrameLoader(processor.image_processor,
                                                                             FrameSampling(num_frames=2), exact=True))
    return pad_batch([dataset[0], dataset[1]], pad_id=0)


def logits(model, batch, **kwargs):
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     pixel_values_videos=batch["pixel_values_videos"], **kwargs).logits


def randomise_adapters(model):
    """LoRA's B starts at zero (no change); give the adapters something to merge."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.2)


@pytest.mark.parametrize("quantized", [False, True], ids=["lora", "qlora"])
def test_saved_checkpoint_is_original_weights_plus_adapters(tmp_path, batch, quantized):
    source = tiny_checkpoint(tmp_path / "base", **(WIDE if quantized else {}))
    settings = ModelSettings(lora=not quantized, qlora=quantized, lora_rank=4, lora_dropout=0.0)
    plan = plan_for(2, "projector,v2v,t2v,lora", lora=True)
    trainable, counts = prepare_model(str(source), plan, settings, seed=0)
    model = trainable.model
    names = dict(model.named_modules())
    assert counts["lora"] > 0
    assert type(names["model.language_model.layers.0.self_attn.q_proj.base_layer"]).__name__ == (
        "Linear4bit" if quantized else "Linear")
    assert type(names["model.language_model.layers.0.cross_attn.v2v.q_proj"]).__name__ == "Linear"  # never quantized
    assert not any(p.requires_grad for n, p in model.named_parameters() if "base_layer" in n)
    randomise_adapters(model)
    save_plain_checkpoint(trainable, tmp_path / "merged")
    assert (tmp_path / "merged" / "adapter" / "adapter_model.safetensors").is_file()

    # The reference: the same adapters on the original (unquantized) weights, unmerged.
    reference, _ = prepare_model(str(source), plan, ModelSettings(lora=True, lora_rank=4, lora_dropout=0.0), seed=1)
    adapters = {n: p for n, p in model.named_parameters() if "lora_" in n}
    with torch.no_grad():
        for name, param in reference.model.named_parameters():
            if "lora_" in name:
                param.copy_(adapters[name])
    expected = logits(reference.model, batch)
    loaded, _ = load_model(tmp_path / "merged", quantize="none", device="cpu")
    assert not any("lora" in name or "base_layer" in name for name, _ in loaded.named_parameters())
    base, _ = load_model(source, quantize="none", device="cpu")
    assert not torch.allclose(logits(base, batch), expected, atol=1e-3), "the adapters change the model"
    torch.testing.assert_close(logits(loaded, batch), expected, rtol=0, atol=2e-4)  # (W + BA)x vs Wx + B(Ax)
    original, saved = load_file(str(source / "model.safetensors")), load_file(str(tmp_path / "merged" / "model.safetensors"))
    untouched = [n for n in original if not re.search(r"(self_attn\.[qkvo]_proj|mlp\.\w+_proj)\.weight$", n)
                 and "multi_modal_projector" not in n and ".cross_attn." not in n]
    assert untouched and all(torch.equal(original[n], saved[n]) for n in untouched)


def test_qlora_stage_one_keeps_the_llm_bit_identical(colour_data, tmp_path):
    """4-bit is only how the frozen LLM sits in memory: the saved LLM is the original one."""
    source = tiny_checkpoint(tmp_path / "base", **WIDE)
    train(TrainSettings(data=colour_data / "train.jsonl", model=str(source), output=tmp_path / "out", stage=1, frames=2,
                        progress=False, loop=LoopSettings(epochs=1, batch_size=2), optimizer=OptimizerSettings(lr=1e-2),
                        model_settings=ModelSettings(qlora=True)))
    original, saved = load_file(str(source / "model.safetensors")), load_file(str(tmp_path / "out" / "model.safetensors"))
    llm = [n for n in original if n.startswith("model.language_model.") and ".cross_attn." not in n]
    assert all(torch.equal(original[n], saved[n]) for n in llm)
    assert not (tmp_path / "out" / "adapter").exists()


def test_qlora_trains(colour_data, tmp_path):
    source = tiny_checkpoint(tmp_path / "base", **WIDE)
    result = train(TrainSettings(
        data=colour_data / "train.jsonl", model=str(source), output=tmp_path / "out", stage=2, frames=2, progress=False,
        loop=LoopSettings(epochs=3, batch_size=2), optimizer=OptimizerSettings(lr=1e-2),
        model_settings=ModelSettings(qlora=True, lora_rank=4)))
    assert set(result.trainable_counts) == {"vision", "projector", "v2v", "t2v", "lora"}
    assert result.loop.losses[-1] < result.loop.losses[0]
    model, _ = load_model(tmp_path / "out", quantize="none", device="cpu")
    assert model.config.text_config.hidden_size == 64 and getattr(model.config, "quantization_config", None) is None
