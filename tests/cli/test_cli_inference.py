"""The inference engine on a real (tiny, random) CrossLMM checkpoint loaded through checkpoints.loader.load_model."""

import threading

import numpy as np
import pytest
import torch

from crosslmm_cli.engine.inference import Engine
from crosslmm_cli.engine.options import GenerationOptions, ModelOptions

QUESTION = "What happens at the end?"


@pytest.fixture(scope="module")
def engine(tiny_checkpoint):
    return Engine.load(str(tiny_checkpoint), ModelOptions(device="cpu"), name="tiny")


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(0).integers(0, 256, size=(6, 40, 56, 3), dtype=np.uint8)


def encode(engine, frames):
    return engine.encode(frames, np.arange(len(frames)) + 0.5, float(len(frames)))


def test_encode_gives_encoder_features_per_frame(engine, frames):
    encoded = encode(engine, frames)
    config = engine.model.config
    grid = config.vision_grid_side
    assert encoded.features.shape == (6, grid * grid, config.vision_config.hidden_size)
    np.testing.assert_allclose(engine.frame_embeddings(encoded), encoded.features.mean(dim=1).numpy(), rtol=1e-6)
    subset = encoded.select([1, 4])
    torch.testing.assert_close(subset.features, encode(engine, frames[[1, 4]]).features)
    assert subset.timestamps.tolist() == [1.5, 4.5]


def test_answer_streams_chunks_that_make_the_text_and_reports_stats(engine, frames):
    encoded = encode(engine, frames)
    answer = engine.answer(encoded, QUESTION, GenerationOptions(max_new_tokens=10))
    chunks = list(answer)
    assert chunks and "".join(chunks) == answer.text
    stats = answer.stats
    assert stats.frames == 6 and stats.visual_tokens == 6 * engine.tokens_per_frame + 1
    assert 1 <= stats.new_tokens <= 10 and stats.prefill_ms > 0 and stats.peak_memory_bytes > 0
    assert "visual tokens 25" in stats.describe() and "prefill" in stats.describe()


def test_answer_from_features_equals_generate_on_pixels(engine, frames):
    """The engine's encode-once path gives exactly what the model gives from pixels in one call."""
    encoded = encode(engine, frames)
    ours = "".join(engine.answer(encoded, QUESTION, GenerationOptions(max_new_tokens=12)))
    processor = engine.processor
    prompt = processor.build_prompt(QUESTION, timestamps=encoded.timestamps.tolist(), duration=6.0)
    inputs = processor(text=prompt, videos=frames)
    out = engine.model.generate(**inputs, max_new_tokens=12, do_sample=False)
    reference = processor.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert ours == reference.lstrip()  # an answer starts at its first visible character


def test_a_streamed_answer_starts_at_its_first_visible_character_as_its_record_does():
    """A model's first token often starts with a space (" corner"); what streams must equal the
    record's stripped text, which `--engine ray` prints whole. Spaces inside stay."""
    from crosslmm_cli.engine.inference import visible_chunk

    shown = ""
    for chunk in [" ", "\n corner.", " not", " circle"]:
        shown += visible_chunk(chunk, started=bool(shown))
    assert shown == "corner. not circle"


def test_same_seed_same_output_and_greedy_is_deterministic(engine, frames):
    encoded = encode(engine, frames)

    def run(**kw):
        return engine.answer(encoded, QUESTION, GenerationOptions(max_new_tokens=16, **kw))

    assert "".join(run()) == "".join(run())
    sampled = [("".join(run(temperature=1.5, seed=s))) for s in (7, 7, 8)]
    assert sampled[0] == sampled[1] != sampled[2]


def test_closing_the_answer_stops_generation(engine, frames, monkeypatch):
    encoded = encode(engine, frames)
    # The stop token becomes the video placeholder, which is never generated: only closing the
    # answer can stop these 5000 tokens.
    monkeypatch.setattr(engine.model.generation_config, "eos_token_id", engine.processor.video_token_id)
    before = threading.active_count()
    answer = engine.answer(encoded, QUESTION, GenerationOptions(max_new_tokens=5000, temperature=1.0, seed=0))
    first = next(answer)
    answer.close()
    assert first and threading.active_count() == before  # the generation thread has ended
    assert 1 <= answer.stats.new_tokens < 5000  # ... early: without the stop it would run to 5000
