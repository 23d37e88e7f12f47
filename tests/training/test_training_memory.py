"""The memory estimate (it counts the paper's own numbers where the paper gives them) and the LR schedule."""

from __future__ import annotations

import pytest

from crosslmm_cli.modeling.shapes import config_for_shape
from crosslmm_cli.training.memory import GiB, MemoryRecipe, estimate_training_memory, lora_parameters, parameter_counts
from crosslmm_cli.training.optim import cosine_with_warmup


def test_stage_one_trains_the_papers_43m_parameters():
    counts = parameter_counts(config_for_shape("qwen2.5-1.5b"))
    # Table 3: projector + cross-attention of CrossLMM-2B in stage 1 = 43M trainable parameters.
    assert (counts["projector"] + counts["v2v"]) / 1e6 == pytest.approx(43, abs=0.5)
    assert counts["llm"] / 1e9 == pytest.approx(1.54, abs=0.01) and counts["vision"] / 1e6 == pytest.approx(400, abs=5)


def test_estimate_adds_up_and_grows_where_it_should():
    config = config_for_shape("qwen2.5-1.5b", tokens_per_frame=9)
    stage1 = estimate_training_memory(config, MemoryRecipe(groups=frozenset({"projector", "v2v"}), frames=32))
    assert stage1.total == pytest.approx(sum(size for _, size, _ in stage1.rows))
    trainable = next(size for what, size, _ in stage1.rows if what.startswith("trainable"))
    assert trainable == pytest.approx(16 * 42.7e6, rel=0.01)
    longer = estimate_training_memory(config, MemoryRecipe(groups=frozenset({"projector", "v2v"}), frames=64))
    unchecked = estimate_training_memory(config, MemoryRecipe(groups=frozenset({"projector", "v2v"}), frames=32,
                                                              gradient_checkpointing=False))
    assert stage1.total < longer.total and stage1.total < unchecked.total
    assert "total" in stage1.table()


def test_qlora_7b_fits_a_24_gb_gpu():
    config = config_for_shape("qwen2.5-7b", tokens_per_frame=9)
    recipe = MemoryRecipe(groups=frozenset({"projector", "v2v", "t2v", "lora"}), qlora=True, lora_rank=16)
    estimate = estimate_training_memory(config, recipe)
    assert 10 * GiB < estimate.total < 22 * GiB
    assert lora_parameters(config, 16) == 28 * 16 * (2 * (3584 + 3584) + 2 * (3584 + 512) + 3 * (3584 + 18944))


def test_schedule_warms_up_then_decays_to_zero():
    rates = [cosine_with_warmup(step, warmup_steps=3, total_steps=13) for step in range(14)]
    assert rates[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a > b for a, b in zip(rates[3:13], rates[4:13])) and rates[13] == 0.0
    assert rates[8] == pytest.approx(0.5)  # half-way through the decay
