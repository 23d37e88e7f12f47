"""Memory behaviour of the prefill: what is freed, what is never held whole (tiny models, CPU)."""

from __future__ import annotations

import weakref

import torch
from conftest import random_video, tiny_model, video_prompt


@torch.no_grad()
def test_encoder_features_computed_from_pixels_are_freed_before_the_llm_runs():
    model = tiny_model()
    config = model.config
    input_ids, video = video_prompt(config, frames=3), random_video(config, frames=3)
    features_ref, alive_in_llm = [], []
    encode = model.model.get_video_features

    def encode_and_remember(pixels):
        features = encode(pixels)
        features_ref.append(weakref.ref(features))
        return features

    model.model.get_video_features = encode_and_remember
    model.model.language_model.layers[0].register_forward_pre_hook(
        lambda *_: alive_in_llm.append(features_ref[0]() is not None))
    model(input_ids=input_ids, pixel_values_videos=video)
    assert alive_in_llm == [False]
