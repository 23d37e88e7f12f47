"""Trainable groups: names map to the right parameters, and gradients reach exactly those."""

from __future__ import annotations

import functools

import pytest
import torch
from training_fixtures import tiny_checkpoint

from crosslmm_cli.training.dataset import ConversationDataset, pad_batch
from crosslmm_cli.engine.options import FrameOptions as FrameSampling
from crosslmm_cli.training.frame_cache import FrameLoader
from crosslmm_cli.training.groups import GROUPS, TrainingPlan, groups_of, parse_groups, plan_for
from crosslmm_cli.training.model_setup import ModelSettings
from crosslmm_cli.training.records import read_conversations
from crosslmm_cli.training.sft import prepare_model, supervised_loss


def test_parameter_names_map_to_groups():
    assert groups_of("model.vision_tower.encoder.layers.0.mlp.fc1.weight") == {"vision"}
    assert groups_of("model.multi_modal_projector.linear_1.weight") == {"projector"}
    assert groups_of("model.video_newline") == {"projector"}
    assert groups_of("model.language_model.layers.3.cross_attn.v2v.k_proj.weight") == {"v2v"}
    assert groups_of("model.language_model.layers.3.cross_attn.t2v.kv_norm.weight") == {"t2v"}
    assert groups_of("model.language_model.layers.3.cross_attn.norm.weight") == {"v2v", "t2v"}
    assert groups_of("model.language_model.layers.3.cross_attn.gate_t2v") == {"t2v", "gates"}
    assert groups_of("model.language_model.layers.3.self_attn.q_proj.weight") == {"llm"}
    assert groups_of("model.language_model.embed_tokens.weight") == {"llm"}
    assert groups_of("lm_head.weight") == {"llm"}
    assert groups_of("base_model.model.model.language_model.layers.0.mlp.up_proj.lora_A.default.weight") == {"lora"}
    assert groups_of("model.language_model.layers.0.mlp.up_proj.base_layer.weight") == {"llm"}


def test_stages_and_group_lists():
    assert plan_for(1, None, lora=False) == TrainingPlan(frozenset({"projector", "v2v"}), ("v2v",))
    assert plan_for(2, None, lora=False).optional == frozenset({"v2v", "t2v"})
    assert plan_for(2, "v2v,llm", lora=False).optional == frozenset()
    assert plan_for(2, None, lora=False).groups == frozenset({"vision", "projector", "v2v", "t2v", "llm"})
    assert plan_for(2, None, lora=True).groups == frozenset({"vision", "projector", "v2v", "t2v", "lora"})
    assert plan_for(None, "gates, projector", lora=False) == TrainingPlan(frozenset({"gates", "projector"}), None)
    with pytest.raises(ValueError, match="unknown trainable group"):
        parse_groups("projector,decoder")
    with pytest.raises(ValueError, match="needs --lora"):
        plan_for(None, "lora", lora=False)
    with pytest.raises(ValueError, match="use 'lora', not 'llm'"):
        plan_for(None, "llm", lora=True)


@pytest.fixture(scope="module")
def gated_dir(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("gated"), gates=0.5)


def gradients(model_dir, colour_data, groups, cross_attention=None, checkpointing=False):
    """Per-parameter gradient after one backward through a real batch of two clips."""
    plan = TrainingPlan(frozenset(groups), cross_attention)
    trainable, _ = prepare_model(str(model_dir), plan, ModelSettings(gradient_checkpointing=checkpointing), seed=0)
    conversations, _ = read_conversations(colour_data / "train.jsonl")
    frames = FrameLoader(trainable.processor.image_processor, FrameSampling(num_frames=2), exact=True)
    dataset = ConversationDataset(conversations[:2], trainable.processor, frames)
    batch = functools.partial(pad_batch, pad_id=0)([dataset[0], dataset[1]])
    loss, count = supervised_loss(trainable, plan)(batch)
    assert count == batch["num_targets"] > 0
    loss.backward()
    return {name: param.grad for name, param in trainable.model.named_parameters()}


@pytest.mark.parametrize("group", ["vision", "projector", "v2v", "t2v", "gates", "llm"])
def test_gradients_reach_exactly_the_trainable_group(gated_dir, colour_data, group):
    grads = gradients(gated_dir, colour_data, {group})
    member = [name for name in grads if group in groups_of(name)]
    others = [name for name in grads if group not in groups_of(name)]
    assert all(grads[name] is None for name in others), "frozen parameters get no gradient"
    assert sum(float(grads[n].abs().sum()) for n in member if grads[n] is not None) > 0
    if group in ("v2v", "t2v", "gates", "projector"):
        # Every tensor of these groups is on the path from the video to the answer, except the key
        # bias (it shifts all of a query's scores equally, which softmax ignores) and V2V in the
        # last layer: it only changes visual positions, which no later layer reads.
        dead = [n for n in member if n.endswith("k_proj.bias") or (".layers.3." in n and "v2v" in n)]
        assert all(grads[n] is not None and grads[n].abs().sum() > 0 for n in member if n not in dead)
        if group == "v2v":
            assert all(grads[n] is None or not grads[n].any() for n in dead if ".layers.3." in n)


def test_both_cross_attention_paths_and_the_pooled_path_carry_gradient(gated_dir, colour_data):
    grads = gradients(gated_dir, colour_data, set(GROUPS) - {"lora"})
    for block, layers in (("v2v", range(3)), ("t2v", range(4))):  # V2V of the last layer is dead (see above)
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            for layer in layers:
                grad = grads[f"model.language_model.layers.{layer}.cross_attn.{block}.{proj}.weight"]
                assert grad.abs().sum() > 0, (block, proj, layer)
    assert grads["model.vision_tower.embeddings.patch_embedding.weight"].abs().sum() > 0


def test_stage_one_runs_without_t2v(gated_dir, colour_data):
    grads = gradients(gated_dir, colour_data, {"projector", "v2v", "t2v"}, cross_attention=["v2v"])
    t2v = [n for n in grads if ".cross_attn.t2v." in n or n.endswith("gate_t2v")]
    assert t2v and all(grads[n] is None or not grads[n].any() for n in t2v), "T2V is off in stage 1"


def test_with_zero_gates_only_the_gates_move_first(tiny_model_dir, colour_data):
    """Flamingo's behaviour: tanh(0) = 0 stops the block's gradient; the gate's own is non-zero."""
    grads = gradients(tiny_model_dir, colour_data, {"v2v", "t2v"})
    gates = [n for n in grads if n.endswith(("gate_v2v", "gate_t2v"))]
    block_grads = [g for n, g in grads.items() if ".cross_attn." in n and n not in gates]
    assert len(gates) == 8
    assert all(grads[n].abs().sum() > 0 for n in gates if n != "model.language_model.layers.3.cross_attn.gate_v2v")
    assert block_grads and all(g is None or torch.count_nonzero(g) == 0 for g in block_grads)


def test_gradient_checkpointing_gives_the_same_gradients(gated_dir, colour_data):
    groups = set(GROUPS) - {"lora"}
    plain = gradients(gated_dir, colour_data, groups)
    recomputed = gradients(gated_dir, colour_data, groups, checkpointing=True)
    assert plain.keys() == recomputed.keys()
    for name, grad in plain.items():
        if grad is None:
            assert recomputed[name] is None, name
        else:
            torch.testing.assert_close(recomputed[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_stage_2_trains_a_model_without_cross_attention_but_named_groups_must_exist(tmp_path):
    """The Table 2a baselines have no (or one kind of) cross-attention block: stage 2 trains what is there."""
    from crosslmm_cli.training.errors import TrainingSetupError

    plain = tiny_checkpoint(tmp_path / "plain", cross_attention_layers=[])
    v2v_only = tiny_checkpoint(tmp_path / "v2v", cross_attention_blocks=["v2v"])
    _, counts = prepare_model(str(plain), plan_for(2, None, lora=False), ModelSettings(), seed=0)
    assert set(counts) == {"vision", "projector", "llm"} and all(counts.values())
    _, counts = prepare_model(str(v2v_only), plan_for(2, None, lora=False), ModelSettings(), seed=0)
    assert {"vision", "projector", "llm", "v2v"} <= set(counts)
    assert counts.get("t2v", 0) < counts["v2v"]  # t2v: at most the norm it would share with V2V
    with pytest.raises(TrainingSetupError, match="no parameters in group.s. t2v"):
        prepare_model(str(plain), plan_for(None, "projector,t2v", lora=False), ModelSettings(), seed=0)
    with pytest.raises(TrainingSetupError, match="no parameters in group.s. v2v"):
        prepare_model(str(plain), plan_for(1, None, lora=False), ModelSettings(), seed=0)
