"""Stage 1a's targets (recipe.grounding): what a naming word must find, read off the scene spec."""

from __future__ import annotations

import math

import numpy as np
import torch

from crosslmm_cli.synthetic import WorldConfig, generate_clip
from crosslmm_cli.synthetic.world import NUMBER_WORDS, SHAPES
from recipe.grounding import IGNORE, NOWHERE, TARGETS, queries_of
from recipe.grounding_scores import implied_motion

CONFIG = WorldConfig()


def moving_clip():
    for index in range(80):
        clip = generate_clip(11, "train", index, CONFIG)
        if len(clip.scenes) == 1 and any(t.motion != "still" and not t.is_dot for t in clip.scenes[0].things):
            return clip
    raise AssertionError("no single-scene clip with a moving object in 80")


def test_the_place_target_is_the_named_objects_centre_in_the_first_and_last_frame():
    clip = moving_clip()
    scene = clip.scenes[0]
    span = (0.0, 3.5)
    queries = queries_of(clip, np.random.default_rng(0), absent_fraction=0.3, span=span)
    by_shape = {thing.shape: thing for thing in scene.things if not thing.is_dot}
    checked = 0
    for word, targets in queries:
        if word in by_shape:
            thing = by_shape[word]
            (x0, y0), (x1, y1) = thing.position(span[0]), thing.position(span[1])
            assert targets["place"] == (2 * x0 - 1, 2 * y0 - 1, 2 * x1 - 1, 2 * y1 - 1)
            assert TARGETS["motion"][targets["motion"]] == thing.motion
            checked += 1
        elif word in SHAPES:  # a shape the clip does not show: nothing to find, no place
            assert targets["shape"] == 0 and all(math.isnan(v) for v in targets["place"])
        if targets["count"] != IGNORE:  # a count query names no object
            assert targets["place"] is NOWHERE
    assert checked == len(by_shape)


def test_a_moving_objects_place_target_implies_its_motion():
    """The targets agree with each other: start and end centres give back the spec's motion."""
    clip = moving_clip()
    queries = queries_of(clip, np.random.default_rng(0), absent_fraction=0.0, span=(0.0, 3.5))
    named = [(t["place"], t["motion"]) for _, t in queries if t["motion"] > 0]
    implied = implied_motion(torch.tensor([p for p, _ in named]))
    assert implied.tolist() == [m for _, m in named]


def test_implied_motion_reads_the_larger_displacement_and_calls_small_ones_still():
    names = TARGETS["motion"]
    place = torch.tensor([[0.0, 0.0, -0.5, 0.1], [0.2, 0.2, 0.3, 0.8], [0.0, 0.0, 0.1, -0.1], [0.0, 0.5, 0.0, -0.2]])
    assert [names[i] for i in implied_motion(place)] == ["left", "down", "still", "up"]


def test_a_reply_query_stops_right_before_the_answer_word_of_the_worlds_own_sentence():
    from crosslmm_cli.synthetic.questions import scene_questions
    from recipe.grounding import reply_queries

    clip = moving_clip()
    scene = clip.scenes[0]
    queries = reply_queries(clip, CONFIG, np.random.default_rng(3), span=(0.0, 3.5))
    asked = {qa.question: qa for qa in scene_questions(scene, CONFIG, np.random.default_rng(3))
             if qa.statement or qa.kind == "count"}
    assert len(queries) == len(asked) >= 5  # colour, shape, size and motion of each object; the count
    for question, prefix, targets in queries:
        qa = asked[question]
        if qa.kind == "count":  # a bare number: read where the reply begins
            assert prefix == "" and TARGETS["count"][targets["count"]] == qa.answer and targets["place"] is NOWHERE
            continue
        assert qa.statement.startswith(prefix + " " + qa.answer)
        assert prefix.split()[-1] in ("is", "goes", qa.subject[0])  # the word the answer turns on
        thing = next(t for t in scene.things if t.shape == qa.subject[1])
        assert TARGETS["shape"][targets["shape"]] == thing.shape and TARGETS["motion"][targets["motion"]] == thing.motion


def test_whole_reply_queries_read_the_named_object_at_every_word_before_the_answer_of_the_kinds_named():
    from crosslmm_cli.synthetic.questions import scene_questions
    from recipe.grounding import reply_queries

    clip = moving_clip()
    last = reply_queries(clip, CONFIG, np.random.default_rng(3), span=(0.0, 3.5))
    every = reply_queries(clip, CONFIG, np.random.default_rng(3), span=(0.0, 3.5), every_word=("shape",))
    kinds = {qa.question: qa.kind for qa in scene_questions(clip.scenes[0], CONFIG, np.random.default_rng(3))}
    assert [q for q in every if not q[2].get("early")] == last  # the last word's rows are unchanged, in order
    for question, prefix, targets in every:
        if targets.get("early"):
            full, wanted = next((p, t) for q, p, t in last if q == question)
            assert kinds[question] == "shape" and full.startswith(prefix + " ") and prefix  # a shorter prefix, a word at least
            assert targets["place"] is NOWHERE  # the classes only
            assert {k: v for k, v in targets.items() if k not in ("early", "place")} == \
                {k: v for k, v in wanted.items() if k != "place"}
    shapes = [p for q, p, t in last if kinds[q] == "shape"]
    assert shapes and len(every) - len(last) == sum(len(p.split()) - 1 for p in shapes)  # "It", "It is", "It is a"


def test_frame_counts_follow_an_appearing_object():
    """Each sampled frame's count class is what the scene shows then: one more object once an
    object has appeared, every legible object by the last frame, dots never."""
    from recipe.grounding import frame_counts

    clip = next(c for c in (generate_clip(11, "train", i, CONFIG) for i in range(200))
                if len(c.scenes) == 1 and c.scenes[0].event is not None and c.scenes[0].event.kind == "appear")
    scene = clip.scenes[0]
    times = [i * scene.duration / 8 for i in range(8)]
    counts = [TARGETS["count"][c] for c in frame_counts(scene, times)]
    before = [c for c, t in zip(counts, times) if t < scene.event.time - 0.01]
    after = [c for c, t in zip(counts, times) if t > scene.event.time + 0.01]
    assert before and after and set(before) == {NUMBER_WORDS[scene.count(0.0)]}
    assert set(after) == {NUMBER_WORDS[scene.count(0.0) + 1]}
    assert counts[-1] == NUMBER_WORDS[sum(1 for thing in scene.things if not thing.is_dot)]
