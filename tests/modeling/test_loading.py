"""Checkpoint I/O and loading: round trips, 4-bit, and refusing what must not be loaded."""

from __future__ import annotations

import json
import os

import bitsandbytes as bnb
import pytest
import torch
from modeling_fixtures import tiny_model
from transformers import AutoConfig, AutoModelForImageTextToText

from crosslmm_cli.errors import CheckpointError, ModelNotFoundError, OfflineError
from crosslmm_cli.checkpoints.loader import UNQUANTIZED_MODULES, load_model
from crosslmm_cli.modeling import CrossLMMConfig, CrossLMMForConditionalGeneration
from crosslmm_cli.modeling.random_checkpoint import random_model

def save_tiny_checkpoint(directory, gates=0.6, **overrides):
    model, processor = random_model("tiny", gates=gates, **overrides)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return model


def architecture(config) -> dict:
    """The config as data, minus bookkeeping that loading legitimately fills in (dtype, paths, versions)."""
    bookkeeping = {"dtype", "_name_or_path", "transformers_version", "architectures"}

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in bookkeeping}
        return value

    return strip(config.to_dict())


def prompt_inputs(processor, frames=3, seed=0):
    pixels = torch.randint(0, 256, (frames, 40, 48, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))
    prompt = processor.build_prompt("what colour is the square?", timestamps=[float(i) for i in range(frames)],
                                    duration=float(frames))
    return processor(text=prompt, videos=pixels)


@torch.no_grad()
def test_save_load_round_trip_keeps_config_weights_tokenizer_and_processor(tmp_path):
    original = save_tiny_checkpoint(tmp_path)
    names = set(os.listdir(tmp_path))
    assert {"config.json", "model.safetensors", "processor_config.json", "preprocessor_config.json",
            "tokenizer.json"} <= names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth"))]
    assert AutoConfig.from_pretrained(tmp_path).model_type == "crosslmm"
    assert isinstance(AutoModelForImageTextToText.from_pretrained(tmp_path), CrossLMMForConditionalGeneration)

    model, processor = load_model(tmp_path, quantize="none", device="cpu")
    assert architecture(model.config) == architecture(original.config)
    for (name, a), (_, b) in zip(original.state_dict().items(), model.state_dict().items()):
        assert torch.equal(a, b), name
    inputs = prompt_inputs(processor)
    torch.testing.assert_close(model(**inputs).logits, original(**inputs).logits, rtol=0, atol=0)


@torch.no_grad()
def test_tokens_per_frame_override_reaches_model_and_processor(tmp_path):
    save_tiny_checkpoint(tmp_path)
    model, processor = load_model(tmp_path, quantize="none", device="cpu", tokens_per_frame=1)
    assert model.config.tokens_per_frame == processor.tokens_per_frame == 1
    inputs = prompt_inputs(processor, frames=2)
    assert model(**inputs).video_hidden_states.shape[1] == 2 * 1 + 1
    with pytest.raises(CheckpointError, match="tokens_per_frame"):
        load_model(tmp_path, quantize="none", device="cpu", tokens_per_frame=5)


@torch.no_grad()
def test_4bit_model_holds_nf4_weights_and_computes_with_them(tmp_path):
    # Wide enough that every quantized layer has whole 64-value blocks.
    save_tiny_checkpoint(tmp_path, text_config={"hidden_size": 128, "intermediate_size": 256,
                                                "num_attention_heads": 4, "num_key_value_heads": 2})
    full, processor = load_model(tmp_path, quantize="none", device="cpu")
    model, _ = load_model(tmp_path, quantize="4bit", device="cpu")

    quantized = {name: m for name, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)}
    llm_linears = [n for n, m in full.named_modules() if isinstance(m, torch.nn.Linear)
                   and n.startswith("model.language_model.")]
    assert sorted(quantized) == sorted(llm_linears)  # every LLM linear (cross-attention too), nothing else
    assert not any(name.startswith(tuple(UNQUANTIZED_MODULES)) for name in quantized)
    for name, module in quantized.items():
        weight = module.weight
        assert weight.dtype == torch.uint8 and weight.numel() * 2 == module.in_features * module.out_features
        assert weight.quant_state.quant_type == "nf4" and weight.quant_state.nested  # double quantization
    assert model.model.multi_modal_projector.linear_1.weight.dtype == torch.float32
    assert model.model.language_model.layers[0].cross_attn.gate_v2v.dtype == torch.float32
    assert model.model.vision_tower.encoder.layers[0].mlp.fc1.weight.dtype == torch.float32

    # The 4-bit layers compute with the dequantized NF4 weights. (On CPUs with AVX512-BF16,
    # bitsandbytes' fused CPU kernel casts activations to bfloat16, hence the tolerances; its first
    # forward also repacks the weights, so dequantize everything before running anything.)
    dequantized = {name: bnb.functional.dequantize_4bit(m.weight.data, m.weight.quant_state)
                   for name, m in quantized.items()}
    for name, module in quantized.items():
        x = torch.randn(5, module.in_features)
        expected = torch.nn.functional.linear(x, dequantized[name], module.bias)
        torch.testing.assert_close(module(x), expected, rtol=2e-2, atol=2e-2 * float(expected.abs().max()))
    inputs = prompt_inputs(processor)
    original_logits = full(**inputs).logits.flatten()
    for name, weight in dequantized.items():
        full.get_submodule(name).weight.copy_(weight)
    got, expected = model(**inputs).logits.flatten(), full(**inputs).logits.flatten()
    cosine = torch.nn.functional.cosine_similarity
    assert cosine(got, expected, dim=0) > 0.99
    # The quantization itself moves tiny random models far more than that (so the check above has teeth).
    assert cosine(expected, original_logits, dim=0) < 0.99
    # ...and generates.
    out = model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 4


def test_pickle_weights_are_refused(tmp_path):
    model = save_tiny_checkpoint(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin: refusing to load pickle weights"):
        load_model(tmp_path, quantize="none", device="cpu")


@pytest.mark.parametrize("damage, message", [
    ("no_config", r"config\.json: file is missing"),
    ("bad_json", r"config\.json: not valid JSON"),
    ("llava", r"LLaVA-OneVision checkpoint"),
    ("truncated_weights", r"model\.safetensors: corrupt safetensors file"),
    ("no_weights", r"no \*\.safetensors weights"),
    ("missing_shard", r"model-00002-of-00002\.safetensors: missing"),
])
def test_broken_checkpoints_name_the_file(tmp_path, damage, message):
    save_tiny_checkpoint(tmp_path)
    weights, config = tmp_path / "model.safetensors", tmp_path / "config.json"
    if damage == "no_config":
        config.unlink()
    elif damage == "bad_json":
        config.write_text("{ not json")
    elif damage == "llava":
        config.write_text(json.dumps({"model_type": "llava_onevision"}))
    elif damage == "truncated_weights":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif damage == "no_weights":
        weights.unlink()
    elif damage == "missing_shard":
        weights.rename(tmp_path / "model-00001-of-00002.safetensors")
        (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
            "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    with pytest.raises(CheckpointError, match=message) as error:
        load_model(tmp_path, quantize="none", device="cpu")
    assert "\n" not in str(error.value)


def test_remote_code_in_a_checkpoint_is_never_run(tmp_path):
    save_tiny_checkpoint(tmp_path)
    marker = tmp_path / "code-ran"
    (tmp_path / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    config = json.loads((tmp_path / "config.json").read_text())
    config["auto_map"] = {"AutoModelForImageTextToText": "modeling_evil.Evil", "AutoConfig": "modeling_evil.Cfg"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    model, _ = load_model(tmp_path, quantize="none", device="cpu")
    assert isinstance(model, CrossLMMForConditionalGeneration) and not marker.exists()


def test_unknown_paths_and_offline_hub_ids_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(ModelNotFoundError, match="no such model directory"):
        load_model(tmp_path / "does-not-exist", device="cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    with pytest.raises(OfflineError, match="someone/some-model: not in the local cache") as error:
        load_model("someone/some-model", device="cpu")
    assert error.value.hint


def test_config_round_trip_through_json_keeps_every_field(tmp_path):
    config = tiny_model(kv_tokens_per_frame=4, cross_attention_kv_dtype="float16", v2v_scope="video").config
    config.save_pretrained(tmp_path)
    loaded = CrossLMMConfig.from_pretrained(tmp_path)
    for field in ("tokens_per_frame", "kv_tokens_per_frame", "pooling", "pool_position", "cross_attention_layers",
                  "cross_attention_blocks", "v2v_scope", "kv_source", "cross_attention_kv_dtype",
                  "vision_feature_layer", "video_token_id", "video_newline"):
        assert getattr(loaded, field) == getattr(config, field), field


def test_generation_stops_at_the_end_of_the_assistant_turn(tmp_path):
    save_tiny_checkpoint(tmp_path)
    model, processor = load_model(tmp_path, quantize="none", device="cpu")
    tokenizer = processor.tokenizer
    stops = {tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.convert_tokens_to_ids("<|endoftext|>")}
    assert set(model.generation_config.eos_token_id) == stops
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id
