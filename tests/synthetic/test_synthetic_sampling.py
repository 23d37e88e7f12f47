"""The sampler keeps the world's rules, the splits are disjoint by construction, and a seed
fixes every clip independently of n."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from crosslmm_cli.synthetic import Clip, WorldConfig, generate_clip
from crosslmm_cli.synthetic.scene import Scene
from crosslmm_cli.synthetic.world import COLOURS, SHAPES

N_SPECS = 300


@pytest.fixture(scope="module")
def specs(config: WorldConfig) -> dict[str, list[Clip]]:
    return {split: [generate_clip(7, split, i, config) for i in range(N_SPECS)] for split in ("train", "eval")}


def _boxes_apart(scene: Scene, config: WorldConfig) -> bool:
    boxes = []
    for th in scene.things:
        half = config.diameter(th.size) / 2
        (xa, ya), (xb, yb) = th.position(0.0), th.position(scene.duration)
        boxes.append((min(xa, xb) - half, min(ya, yb) - half, max(xa, xb) + half, max(ya, yb) + half))
    for i, a in enumerate(boxes):
        if not (0 <= a[0] and 0 <= a[1] and a[2] <= 1 and a[3] <= 1):
            return False
        for b in boxes[i + 1 :]:
            if not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]):
                return False
    return True


def test_every_scene_keeps_the_rules(specs: dict[str, list[Clip]], config: WorldConfig) -> None:
    for clip in specs["train"] + specs["eval"]:
        for k, scene in enumerate(clip.scenes):
            objects, dots = scene.objects, scene.dots
            colours = [o.colour for o in objects]
            assert 1 <= len(objects) <= config.max_objects and len(dots) <= config.max_dots
            assert len(set(colours)) == len(colours) and len({o.shape for o in objects}) == len(objects)
            assert [o.x for o in objects] == sorted(o.x for o in objects)  # caption order: left to right
            assert not {d.colour for d in dots} & {c for c, _ in scene.pairs()}  # "the red dot" is never "the red object"
            assert _boxes_apart(scene, config), clip.id
            assert scene.count(0.0) >= 1
            for d in dots:  # on the centre of one patch of the 8x8 grid, in a corner block
                col, row = d.x * config.patch_grid - 0.5, d.y * config.patch_grid - 0.5
                assert col == int(col) and row == int(row) and col in (0, 1, 6, 7) and row in (0, 1, 6, 7)
            ev = scene.event
            if ev is not None:
                assert len(clip.scenes) == 1  # chapter scenes carry no events
                assert ev.time in config.event_times(scene.duration) and ev.time >= scene.duration / 2
                if ev.kind == "appear":
                    assert scene.things[ev.target].motion == "still"
                if ev.kind == "change":
                    assert ev.new_colour not in colours
            if k:
                previous = clip.scenes[k - 1]
                assert scene.background != previous.background and not scene.pairs() & previous.pairs()


def test_train_never_shows_a_held_out_pair_and_eval_always_does(specs: dict[str, list[Clip]], config: WorldConfig) -> None:
    held = config.held_out_pairs
    assert all(not (s.pairs() & held) for clip in specs["train"] for s in clip.scenes)
    assert all(any(s.pairs() & held for s in clip.scenes) for clip in specs["eval"])
    # So no eval spec can equal a train spec, whatever the seeds.
    train = {json.dumps(c.to_dict()["scenes"]) for c in specs["train"]}
    assert not train & {json.dumps(c.to_dict()["scenes"]) for c in specs["eval"]}
    # Held-out pairs still cover every colour and shape in training through the other pairs.
    seen = {p for clip in specs["train"] for s in clip.scenes for p in s.pairs()}
    assert {c for c, _ in seen} == set(COLOURS) and {s for _, s in seen} == set(SHAPES)


def test_answers_are_balanced_enough_to_learn(specs: dict[str, list[Clip]]) -> None:
    """No answer dominates its question type, so a model cannot score by guessing the mode."""
    single = [c.scenes[0] for c in specs["train"] if len(c.scenes) == 1]
    counts = Counter(s.count(0.0) for s in single)
    motions = Counter(o.motion for s in single for o in s.objects)
    events = Counter(s.event.kind if s.event else None for s in single)
    colours = Counter(o.colour for s in single for o in s.objects)
    for counter in (counts, motions, events, colours):
        assert max(counter.values()) < 0.45 * sum(counter.values()), counter
    assert 0.1 < sum(len(c.scenes) > 1 for c in specs["train"]) / N_SPECS < 0.3  # multi_scene_fraction 0.2


def test_a_seed_fixes_each_clip_and_other_seeds_or_splits_change_it(config: WorldConfig) -> None:
    first = [generate_clip(3, "train", i, config) for i in range(5)]
    assert first == [generate_clip(3, "train", i, config) for i in range(5)]
    assert all(a != b for a, b in zip(first, (generate_clip(4, "train", i, config) for i in range(5))))
    assert all(a.scenes != b.scenes for a, b in zip(first, (generate_clip(3, "eval", i, config) for i in range(5))))


def test_clip_specs_round_trip_through_json(specs: dict[str, list[Clip]]) -> None:
    for clip in specs["eval"][:50]:
        assert Clip.from_dict(json.loads(json.dumps(clip.to_dict()))) == clip


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("frame_size", 100, "multiple of 16"),
        ("time_step", 0.3, "fps must be a multiple of 10"),
        ("scene_duration", 4.25, "multiple of time_step"),
        ("held_out_pairs", frozenset({("pink", "circle")}), "unknown colours or shapes"),
        ("held_out_pairs", frozenset(), "at least one"),
        ("dot_diameter", 0.2, "fit inside one of the 8x8 patches"),
        ("small_diameter", 0.3, "grow from dot to small to large"),
    ],
)
def test_world_config_rejects_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorldConfig(**{field: value})


def test_world_config_round_trips_through_json(config: WorldConfig) -> None:
    assert WorldConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ValueError, match="unknown world settings: colour_depth"):
        WorldConfig.from_dict({"colour_depth": 8})
