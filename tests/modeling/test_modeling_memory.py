"""Memory behaviour of the prefill: what is freed, what is never held whole (tiny models, CPU)."""

from __future__ import annotations

import weakref

import torch
from modeling_fixtures import random_video, tiny_model, video_prompt


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


@torch.no_grad()
def test_v2v_key_values_exist_for_one_chunk_of_frames_at_a_time(monkeypatch):
    from crosslmm_cli.modeling import cross_attention

    model = tiny_model(gates=0.7)  # 16 encoder tokens per frame
    config = model.config
    input_ids, video = video_prompt(config, frames=5), random_video(config, frames=5)
    whole = model(input_ids=input_ids, pixel_values_videos=video, cross_attention=["v2v"]).logits

    monkeypatch.setattr(cross_attention, "PROJECTION_CHUNK_TOKENS", 32)  # 2 frames per step
    frames_per_call = []
    for layer in model.model.language_model.layers:
        block = layer.cross_attn.v2v
        project = block.project_key_values
        block.project_key_values = lambda source, *a, _p=project, **k: frames_per_call.append(source.shape[1]) or _p(source, *a, **k)
    chunked = model(input_ids=input_ids, pixel_values_videos=video, cross_attention=["v2v"]).logits
    assert max(frames_per_call) == 2 and sum(frames_per_call) == 5 * len(config.cross_attention_layers)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5)


@torch.no_grad()
def test_kv_storage_dtype_applies_to_the_cached_t2v_states_only():
    config = tiny_model().config
    input_ids, video = video_prompt(config, frames=2), random_video(config, frames=2)
    full = tiny_model(gates=0.7)
    fp8 = tiny_model(gates=0.7, cross_attention_kv_dtype="float8_e4m3fn")
    for blocks, same in ((["v2v"], True), (["t2v"], False)):
        a = full(input_ids=input_ids, pixel_values_videos=video, cross_attention=blocks).logits
        b = fp8(input_ids=input_ids, pixel_values_videos=video, cross_attention=blocks).logits
        assert torch.equal(a, b) == same, blocks


@torch.no_grad()
def test_projection_runs_on_a_bounded_number_of_tokens_and_chunking_is_exact(monkeypatch):
    from crosslmm_cli.modeling import cross_attention

    model = tiny_model(gates=0.7)  # 16 encoder tokens per frame
    config = model.config
    input_ids, video = video_prompt(config, frames=5), random_video(config, frames=5)
    whole = model(input_ids=input_ids, pixel_values_videos=video).logits

    monkeypatch.setattr(cross_attention, "PROJECTION_CHUNK_TOKENS", 32)  # 2 frames per step
    tokens_seen = []
    model.model.multi_modal_projector.register_forward_pre_hook(lambda _, args: tokens_seen.append(args[0].shape[:-1].numel()))
    for layer in model.model.language_model.layers:
        layer.cross_attn.t2v.kv_norm.register_forward_pre_hook(lambda _, args: tokens_seen.append(args[0].shape[:-1].numel()))
    chunked = model(input_ids=input_ids, pixel_values_videos=video).logits
    assert tokens_seen and max(tokens_seen) <= 32
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5)


@torch.no_grad()
def test_encoder_writes_chunks_into_one_buffer_instead_of_concatenating():
    from crosslmm_cli.bench.peak_memory import measure_peak

    model = tiny_model(vision_chunk_size=1)
    video = random_video(model.config, frames=64)
    with measure_peak(torch.device("cpu")) as peak:
        features = model.get_video_features(video)
    feature_bytes = features.numel() * features.element_size()
    # The output plus one frame's activations (~12 KB here); a list of chunks concatenated at the
    # end holds the output twice.
    assert feature_bytes < peak.peak_bytes < 1.25 * feature_bytes
    torch.testing.assert_close(features, tiny_model(vision_chunk_size=64).get_video_features(video), rtol=0, atol=0)
