"""Properties the CrossLMM model must have, checked on tiny random models (CPU, seconds)."""

from __future__ import annotations

import copy

import pytest
import torch
from modeling_fixtures import random_video, tiny_config, tiny_model, video_prompt
from transformers import Qwen2ForCausalLM

from crosslmm_cli.modeling import CrossLMMCache, CrossLMMConfig


def base_qwen2(model) -> Qwen2ForCausalLM:
    """transformers' own Qwen2 with the model's LLM weights (cross-attention left out)."""
    text_config = copy.deepcopy(model.config.text_config)
    text_config._attn_implementation = "sdpa"
    reference = Qwen2ForCausalLM(text_config).eval()
    state = {
        key.replace("model.language_model.", "model."): value
        for key, value in model.state_dict().items()
        if key.startswith("model.language_model.") and ".cross_attn." not in key
    }
    state["lm_head.weight"] = model.lm_head.weight
    missing, unexpected = reference.load_state_dict(state, strict=False)
    assert not unexpected and all("rotary" in key for key in missing), (missing, unexpected)
    return reference


@torch.no_grad()
def test_zero_gates_equal_base_qwen2_on_the_pooled_embeddings():
    model = tiny_model()  # gates initialised to 0
    config = model.config
    input_ids, video = video_prompt(config, frames=3), random_video(config, frames=3)
    out = model(input_ids=input_ids, pixel_values_videos=video)

    embeds = model.get_input_embeddings()(input_ids)
    mask = (input_ids == config.video_token_id)[..., None]
    embeds = embeds.masked_scatter(mask, out.video_hidden_states)
    expected = base_qwen2(model)(inputs_embeds=embeds).logits
    torch.testing.assert_close(out.logits, expected, rtol=0, atol=1e-6)


@torch.no_grad()
def test_nonzero_gates_change_exactly_the_positions_that_see_the_video():
    model = tiny_model(gates=0.7)
    config = model.config
    input_ids, video = video_prompt(config, frames=2), random_video(config, frames=2)
    shut = model(input_ids=input_ids, pixel_values_videos=video, cross_attention=[]).logits
    both = model(input_ids=input_ids, pixel_values_videos=video).logits
    v2v_only = model(input_ids=input_ids, pixel_values_videos=video, cross_attention=["v2v"]).logits

    first_video = int((input_ids[0] == config.video_token_id).nonzero()[0])
    changed = (both - shut).abs().amax(-1)[0] > 1e-5
    assert changed.all(), "with T2V every position (text before the video too) reads the frames"
    changed_v2v = (v2v_only - shut).abs().amax(-1)[0] > 1e-5
    assert not changed_v2v[:first_video].any(), "text before the video has no path to V2V output"
    assert changed_v2v[first_video:].all()


@torch.no_grad()
def test_text_only_prompt_is_untouched_by_cross_attention():
    model = tiny_model(gates=0.7)
    input_ids = torch.tensor([[1, 2, 3, 4, 5]])
    torch.testing.assert_close(
        model(input_ids=input_ids).logits, model(input_ids=input_ids, cross_attention=[]).logits, rtol=0, atol=0
    )
    assert model(input_ids=input_ids).past_key_values.cross_attention == {}


@pytest.mark.parametrize("tokens_per_frame", [1, 4, 9, 16])
@pytest.mark.parametrize("newline", [True, False])
@torch.no_grad()
def test_visual_tokens_entering_the_llm(tokens_per_frame, newline):
    model = tiny_model(tokens_per_frame=tokens_per_frame, video_newline=newline, gates=0.5)
    config, frames = model.config, 3
    input_ids = video_prompt(config, frames)
    out = model(input_ids=input_ids, pixel_values_videos=random_video(config, frames))
    assert out.video_hidden_states.shape[1] == frames * tokens_per_frame + int(newline)
    assert int((input_ids == config.video_token_id).sum()) == frames * tokens_per_frame + int(newline)
    with pytest.raises(ValueError, match=f"exactly {frames * tokens_per_frame + int(newline)} video tokens"):
        model(input_ids=input_ids[:, 1:-1].clone().fill_(config.video_token_id)[:, :-1],
              pixel_values_videos=random_video(config, frames))


@torch.no_grad()
def test_tokens_per_frame_can_change_per_call_on_the_same_weights():
    model = tiny_model(gates=0.5)
    config, frames = model.config, 2
    for tokens in (1, 16):
        input_ids = video_prompt(config, frames, tokens_per_frame=tokens)
        out = model(input_ids=input_ids, pixel_values_videos=random_video(config, frames), tokens_per_frame=tokens)
        assert out.video_hidden_states.shape[1] == frames * tokens + 1


@pytest.mark.parametrize("scope, isolated", [("frame", True), ("video", False)])
@torch.no_grad()
def test_v2v_frame_scope_cannot_see_other_frames(scope, isolated):
    model = tiny_model(gates=1.0, v2v_scope=scope, cross_attention_blocks=["v2v"])
    config, frames = model.config, 3
    input_ids = video_prompt(config, frames, prefix=())  # the video comes first: nothing before it sees later frames
    video = random_video(config, frames)
    perturbed = video.clone()
    perturbed[:, 2] = torch.randn_like(perturbed[:, 2])  # a later frame
    a = model(input_ids=input_ids, pixel_values_videos=video).logits
    b = model(input_ids=input_ids, pixel_values_videos=perturbed).logits
    first_two_frames = slice(0, 2 * config.tokens_per_frame)
    same = torch.allclose(a[:, first_two_frames], b[:, first_two_frames], rtol=0, atol=1e-6)
    assert same == isolated
    assert not torch.allclose(a[:, 2 * config.tokens_per_frame :], b[:, 2 * config.tokens_per_frame :])


@torch.no_grad()
def test_incremental_decoding_equals_the_full_forward():
    model = tiny_model(gates=0.8)
    config = model.config
    input_ids, video = video_prompt(config, frames=3), random_video(config, frames=3)
    generated = model.generate(
        input_ids=input_ids, pixel_values_videos=video, max_new_tokens=20, min_new_tokens=20,
        do_sample=False, output_logits=True, return_dict_in_generate=True,
    )
    sequence = generated.sequences
    assert sequence.shape[1] == input_ids.shape[1] + 20
    full = model(input_ids=sequence, pixel_values_videos=video, use_cache=False).logits
    prompt_len = input_ids.shape[1]
    for step, step_logits in enumerate(generated.logits):
        torch.testing.assert_close(step_logits[0], full[0, prompt_len - 1 + step], rtol=1e-4, atol=1e-4)
        assert int(sequence[0, prompt_len + step]) == int(full[0, prompt_len - 1 + step].argmax())


@torch.no_grad()
def test_cross_attention_states_are_computed_once_and_reused():
    model = tiny_model(gates=0.8)
    config = model.config
    input_ids, video = video_prompt(config, frames=2), random_video(config, frames=2)
    calls = []
    for layer in model.model.language_model.layers:
        layer.cross_attn.t2v.k_proj.register_forward_hook(lambda *a: calls.append(1))
    model.generate(input_ids=input_ids, pixel_values_videos=video, max_new_tokens=6, min_new_tokens=6, do_sample=False)
    assert len(calls) == len(config.cross_attention_layers)  # prefill only (one chunk of frames each)


@torch.no_grad()
def test_batch_with_left_padding_equals_each_item_alone():
    model = tiny_model(gates=0.8)
    config = model.config
    short = video_prompt(config, frames=2, prefix=(9,), suffix=(4, 5))
    long = video_prompt(config, frames=2, prefix=(1, 2, 3, 8), suffix=(4, 5, 6, 7))
    videos = random_video(config, frames=2, batch=2)
    pad = long.shape[1] - short.shape[1]
    input_ids = torch.cat([torch.cat([torch.zeros(1, pad, dtype=torch.long), short], 1), long])
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, :pad] = 0
    batched = model.generate(input_ids=input_ids, attention_mask=attention_mask, pixel_values_videos=videos,
                             max_new_tokens=8, min_new_tokens=8, do_sample=False)
    for row, prompt in enumerate((short, long)):
        alone = model.generate(input_ids=prompt, pixel_values_videos=videos[row : row + 1],
                               max_new_tokens=8, min_new_tokens=8, do_sample=False)
        assert batched[row, -8:].tolist() == alone[0, -8:].tolist()


@torch.no_grad()
def test_beam_search_reorders_cross_attention_states_with_the_cache():
    model = tiny_model(gates=0.8)
    config = model.config
    input_ids, videos = torch.cat([video_prompt(config, 2)] * 2), random_video(config, frames=2, batch=2)
    kwargs = dict(input_ids=input_ids, pixel_values_videos=videos, max_new_tokens=6, min_new_tokens=6,
                  num_beams=3, do_sample=False)
    with_cache = model.generate(**kwargs)
    without_cache = model.generate(**kwargs, use_cache=False)
    assert with_cache.tolist() == without_cache.tolist()
    assert with_cache[0].tolist() != with_cache[1].tolist()  # different videos, different answers


@torch.no_grad()
def test_precomputed_video_features_give_the_same_answer():
    model = tiny_model(gates=0.8)
    config = model.config
    input_ids, video = video_prompt(config, frames=3), random_video(config, frames=3)
    features = model.get_video_features(video)
    assert features.shape == (1, 3, config.vision_grid_side**2, config.vision_config.hidden_size)
    from_pixels = model.generate(input_ids=input_ids, pixel_values_videos=video, max_new_tokens=8, do_sample=False)
    from_features = model.generate(input_ids=input_ids, video_features=features, max_new_tokens=8, do_sample=False)
    assert from_pixels.tolist() == from_features.tolist()


@torch.no_grad()
def test_vision_chunking_does_not_change_features():
    video = random_video(tiny_config(), frames=5)
    one = tiny_model(vision_chunk_size=1).get_video_features(video)
    all_at_once = tiny_model(vision_chunk_size=64).get_video_features(video)
    torch.testing.assert_close(one, all_at_once, rtol=1e-5, atol=1e-5)


def test_vision_encoder_runs_only_the_layers_it_needs():
    model = tiny_model(vision_feature_layer=-2)
    reference = model.model.vision_tower(random_video(model.config, 1)[0], output_hidden_states=True).hidden_states[-2]
    torch.testing.assert_close(model.get_video_features(random_video(model.config, 1))[0], reference)
    ran = []
    for layer in model.model.vision_tower.encoder.layers:
        layer.register_forward_hook(lambda *a: ran.append(1))
    model.get_video_features(random_video(model.config, 1))
    assert len(ran) == model.config.vision_config.num_hidden_layers - 1


@torch.no_grad()
def test_kv_tokens_per_frame_and_storage_dtype_shrink_the_cache():
    config = tiny_config()
    input_ids, video = video_prompt(config, frames=4), random_video(config, frames=4)
    sizes = {}
    for name, overrides in {"full": {}, "pooled": {"kv_tokens_per_frame": 4},
                            "fp8": {"cross_attention_kv_dtype": "float8_e4m3fn"}}.items():
        model = tiny_model(gates=0.8, **overrides)
        out = model(input_ids=input_ids, pixel_values_videos=video)
        sizes[name] = out.past_key_values.cross_attention_nbytes
        key, _ = out.past_key_values.get_cross_attention(0)
        assert key.shape[2:4] == (4, overrides.get("kv_tokens_per_frame", 16))
        if name == "full":
            reference = out.logits
        elif name == "fp8":
            assert key.dtype == torch.float8_e4m3fn
            torch.testing.assert_close(out.logits, reference, rtol=0.05, atol=0.05)
    assert sizes["pooled"] * 4 == sizes["full"] and sizes["fp8"] * 4 == sizes["full"]


def test_cache_must_be_a_crosslmm_cache():
    from transformers import DynamicCache

    model = tiny_model(gates=0.8)
    with pytest.raises(TypeError, match="CrossLMMCache"):
        model(input_ids=torch.tensor([[1, 2]]), past_key_values=DynamicCache())
    assert isinstance(model(input_ids=torch.tensor([[1, 2]]), use_cache=True).past_key_values, CrossLMMCache)


@pytest.mark.parametrize(
    "field, value",
    [("tokens_per_frame", 8), ("tokens_per_frame", 25), ("kv_tokens_per_frame", 3), ("pooling", "max"),
     ("pool_position", "inside"), ("v2v_scope", "global"), ("kv_source", "text"), ("cross_attention_layers", [3, 1]),
     ("cross_attention_layers", [0, 9]), ("cross_attention_blocks", ["v2v", "x2v"]), ("vision_feature_layer", 7),
     ("vision_chunk_size", 0), ("video_token_id", 500), ("cross_attention_kv_dtype", "int4")],
)
def test_bad_config_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        tiny_config(**{field: value})


def test_default_cross_attention_layers_are_every_fourth():
    config = CrossLMMConfig(text_config={"model_type": "qwen2", "num_hidden_layers": 28, "vocab_size": 200},
                            video_token_id=199)
    assert config.cross_attention_layers == [3, 7, 11, 15, 19, 23, 27]
