"""research.answer_grounding's targets: where T2V should look is where the renderer drew the object."""

from __future__ import annotations

import numpy as np
import pytest

from crosslmm_cli.synthetic import WorldConfig, generate_clip
from crosslmm_cli.synthetic.labels import SHAPE_CLASSES, patch_labels
from research.answer_grounding import head_targets, object_masks

CONFIG = WorldConfig()


def single_scene_clip():
    for index in range(50):
        clip = generate_clip(7, "train", index, CONFIG)
        if len(clip.scenes) == 1 and len([t for t in clip.scenes[0].things if not t.is_dot]) >= 2:
            return clip
    raise AssertionError("no two-object single-scene clip in 50")


def test_an_object_mask_is_its_share_of_the_dense_labels():
    """Per patch, the named object's coverage equals the labels' share of its shape (shapes differ
    between a scene's objects, so the shape class is that object alone)."""
    clip = single_scene_clip()
    scene = clip.scenes[0]
    times = [0.0, scene.duration / 2, scene.duration * 0.99]
    for thing in (t for t in scene.things if not t.is_dot):
        masks = object_masks(clip, (thing.colour, thing.shape), times, CONFIG)
        assert masks.shape == (len(times), CONFIG.patch_grid**2)
        for frame, t in enumerate(times):
            labels = patch_labels(clip, t, CONFIG)
            np.testing.assert_allclose(masks[frame], labels.shape[:, SHAPE_CLASSES.index(thing.shape)], atol=1e-5)
        assert masks.sum() > 0


def test_a_question_naming_no_single_object_has_no_mask():
    clip = single_scene_clip()
    shapes = {t.shape for t in clip.scenes[0].things}
    absent = next(s for s in SHAPE_CLASSES[1:-1] if s not in shapes)
    assert object_masks(clip, None, [0.0], CONFIG) is None
    assert object_masks(clip, ("red", absent), [0.0], CONFIG) is None


@pytest.mark.parametrize("frames", [7, 8])
def test_two_heads_split_the_clip_and_the_rest_see_it_all(frames):
    masks = np.random.default_rng(0).random((frames, 64)).astype(np.float32)
    targets = head_targets(masks, heads=4).reshape(4, frames, 64)
    covered = masks > 0.1
    first, last = (frames + 1) // 2, frames // 2
    assert (targets[0, :first] == covered[:first]).all() and not targets[0, first:].any()
    assert (targets[1, last:] == covered[last:]).all() and not targets[1, :last].any()
    assert (targets[2] == covered).all() and (targets[3] == covered).all()


def test_recorded_attention_weights_give_what_sdpa_gives_and_sdpa_is_back_after():
    """Inside `recording_t2v_attention` T2V attends through explicit weights (one entry per call,
    rows summing to 1) with exactly SDPA's output; on exit the block is the class's own again."""
    import torch

    from crosslmm_cli.modeling.random_checkpoint import random_model
    from research.answer_grounding import recording_t2v_attention

    model, _ = random_model("tiny", seed=0, cross_attention_layers=[0], cross_attention_blocks=["t2v"])
    block = model.model.language_model.layers[0].cross_attn.t2v
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(2, 5, model.config.text_config.hidden_size, generator=generator)
    key, value = (torch.randn(2, block.num_key_value_heads, 3, 4, block.head_dim, generator=generator) for _ in range(2))
    expected = block.attend_all_frames(hidden, key, value)
    with recording_t2v_attention(model) as weights:
        torch.testing.assert_close(block.attend_all_frames(hidden, key, value), expected)
    assert len(weights) == 1 and weights[0].shape == (2, block.num_heads, 5, 12)
    torch.testing.assert_close(weights[0].sum(-1), torch.ones(2, block.num_heads, 5))
    assert "attend_all_frames" not in vars(block)


def test_answer_starts_and_ends_bound_each_answer():
    from research.answer_grounding import IGNORE, answer_ends, answer_starts

    labels = [IGNORE, IGNORE, 5, 6, IGNORE, 7, IGNORE, IGNORE, 8]
    assert answer_starts(labels) == [2, 5, 8] and answer_ends(labels) == [4, 6, 9]
    assert answer_starts([IGNORE, IGNORE]) == [] and answer_ends([IGNORE, IGNORE]) == []
