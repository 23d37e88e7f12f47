"""The frame-time embedding of the cross-attention K/V: a no-op at start, where a frame sits once trained."""

from __future__ import annotations

import pytest
import torch
from modeling_fixtures import random_video, tiny_model, video_prompt

from crosslmm_cli.modeling import CrossLMMForConditionalGeneration
from crosslmm_cli.modeling.cross_attention import CrossLMMFrameTimeEmbedding


@torch.no_grad()
def test_a_fresh_time_embedding_changes_nothing():
    plain, timed = tiny_model(gates=0.7), tiny_model(gates=0.7, kv_time_embedding=True)
    assert timed.model.kv_time_embedding.weight.count_nonzero() == 0
    missing, unexpected = timed.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["model.kv_time_embedding.weight"] and not unexpected
    config = plain.config
    input_ids, video = video_prompt(config, frames=3), random_video(config, frames=3)
    torch.testing.assert_close(timed(input_ids=input_ids, pixel_values_videos=video).logits,
                               plain(input_ids=input_ids, pixel_values_videos=video).logits, rtol=0, atol=0)


@torch.no_grad()
def test_the_kv_source_of_each_frame_moves_by_that_frames_embedding():
    model = tiny_model(gates=0.7, kv_time_embedding=True)
    torch.nn.init.normal_(model.model.kv_time_embedding.weight, std=0.5)
    features = model.get_video_features(random_video(model.config, frames=4))
    _, timed = model.model.prepare_video_tokens(features, 1, True)
    embedding, model.model.kv_time_embedding = model.model.kv_time_embedding, None
    _, plain = model.model.prepare_video_tokens(features, 1, True)
    offsets = embedding(4)  # (T, D)
    torch.testing.assert_close(timed - plain, offsets[None, :, None, :].expand_as(plain), rtol=0, atol=1e-6)
    assert torch.cdist(offsets, offsets).triu(1)[torch.triu_indices(4, 4, 1).unbind()].min() > 0  # frames differ
    # The place is relative: the first and the last frame get the same offset whatever the count.
    torch.testing.assert_close(embedding(7)[[0, -1]], offsets[[0, -1]])


def test_the_time_embedding_survives_a_save_and_load(tmp_path):
    model = tiny_model(gates=0.7, kv_time_embedding=True)
    with torch.no_grad():
        torch.nn.init.normal_(model.model.kv_time_embedding.weight)
    model.save_pretrained(tmp_path)
    loaded = CrossLMMForConditionalGeneration.from_pretrained(tmp_path)
    assert loaded.config.kv_time_embedding is True
    torch.testing.assert_close(loaded.model.kv_time_embedding.weight, model.model.kv_time_embedding.weight)


@pytest.mark.parametrize("frames", [1, 2, 16])
def test_one_frame_or_many_give_finite_offsets(frames):
    offsets = CrossLMMFrameTimeEmbedding(8)(frames)
    assert offsets.shape == (frames, 8) and torch.isfinite(offsets).all()
