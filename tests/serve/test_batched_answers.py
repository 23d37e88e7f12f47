"""Batched greedy answers (engine/batched.py) equal answers given alone, and each row stops on its own."""

from __future__ import annotations

import pytest
from serve_fixtures import CIRCLE, SCENES

from crosslmm_cli.engine import FrameOptions, GenerationOptions, VideoPipeline
from crosslmm_cli.engine.batched import Row, answer_rows, batch_key
from crosslmm_cli.errors import UsageError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def encoded(engine):
    pipeline = VideoPipeline(engine, FrameOptions())
    return {video: pipeline.encode(pipeline.prepare(str(video))) for video in (CIRCLE, SCENES)}


def alone(engine, video, question, max_new_tokens=256):
    with engine.answer(video, question, GenerationOptions(max_new_tokens=max_new_tokens)) as answer:
        return "".join(answer), answer.stats


def test_rows_of_different_videos_questions_and_lengths_equal_answers_given_alone(engine, encoded):
    items = [(CIRCLE, "Describe the video.", 256), (SCENES, "What shape is the blue object?", 256),
             (SCENES, "Describe the video.", 20), (CIRCLE, "How many shapes are there at the start?", 256)]
    texts = [[] for _ in items]
    rows = [Row(encoded[v], engine.prompt(encoded[v], q), n, texts[k].append) for k, (v, q, n) in enumerate(items)]
    answer_rows(engine, rows)
    for (video, question, limit), pieces, row in zip(items, texts, rows):
        expected, stats = alone(engine, encoded[video], question, limit)
        assert "".join(pieces) == expected
        assert row.stats.new_tokens == stats.new_tokens and row.stats.prompt_tokens == stats.prompt_tokens
    assert rows[2].stats.new_tokens == 20  # its own limit, while the others went on


def test_a_cancelled_row_stops_at_the_next_token_and_the_others_finish(engine, encoded):
    cut = []
    stop_after = lambda: len(cut) >= 2  # noqa: E731 - cancelled once two pieces arrived
    rows = [Row(encoded[CIRCLE], engine.prompt(encoded[CIRCLE], "Describe the video."), 256, cut.append, cancelled=stop_after),
            Row(encoded[CIRCLE], engine.prompt(encoded[CIRCLE], "Describe the video."), 256, lambda text: None)]
    answer_rows(engine, rows)
    full = alone(engine, encoded[CIRCLE], "Describe the video.")[1].new_tokens
    assert rows[0].stats.new_tokens <= 3 < rows[1].stats.new_tokens == full


def test_only_greedy_answers_of_one_shape_share_a_call(engine, encoded):
    greedy = batch_key(engine, encoded[CIRCLE], GenerationOptions())
    assert greedy == batch_key(engine, encoded[SCENES], GenerationOptions(max_new_tokens=5))
    assert batch_key(engine, encoded[CIRCLE], GenerationOptions(temperature=0.7)) is None
    assert batch_key(engine.with_tokens_per_frame(4), encoded[CIRCLE], GenerationOptions()) != greedy
    with pytest.raises(ValueError, match="same number of frames"):
        short = encoded[CIRCLE].select([0, 1])
        answer_rows(engine, [Row(short, engine.prompt(short, "q"), 4, print), Row(encoded[CIRCLE], "q", 4, print)])


@pytest.mark.parametrize("count", [0, 3, 10_000])
def test_a_tokens_per_frame_the_encoder_cannot_pool_to_is_a_usage_error(engine, count):
    with pytest.raises(UsageError, match="--tokens-per-frame"):
        engine.with_tokens_per_frame(count)
    assert engine.with_tokens_per_frame(None) is engine is engine.with_tokens_per_frame(engine.tokens_per_frame)
