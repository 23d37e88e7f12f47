"""The sampler keeps the world's rules, the splits are disjoint by construction, and a seed
fixes every clip independently of n."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from crosslmm_cli.synthetic import Clip, WorldConfig, generate_clip
from crosslmm_cli.synthetic.dataset import spec_hash_side
from crosslmm_cli.synthetic.scene import Scene
from crosslmm_cli.synthetic.world import COLOURS, SHAPES

N_SPECS = 300


@pytest.fixture(scope="module")
def specs(config: WorldConfig) -> dict[str, list[Clip]]:
    return {subset: [generate_clip(7, subset, i, config) for i in range(N_SPECS)] for subset in ("train", "eval", "novel")}


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
    for clip in specs["train"] + specs["eval"] + specs["novel"]:
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


def test_splits_are_disjoint_by_construction(specs: dict[str, list[Clip]], config: WorldConfig) -> None:
    """Train and standard eval specs fall on opposite sides of the spec hash; novel clips show a
    held-out colour-shape pair, which neither of the others ever shows."""
    held = config.held_out_pairs
    assert {spec_hash_side(c) for c in specs["train"]} == {0} and {spec_hash_side(c) for c in specs["eval"]} == {1}
    for clip in specs["train"] + specs["eval"]:
        assert all(not (s.pairs() & held) for s in clip.scenes), clip.id
    assert all(len(c.scenes) == 1 and c.scenes[0].pairs() & held for c in specs["novel"])
    scenes = {subset: {json.dumps(c.to_dict()["scenes"]) for c in clips} for subset, clips in specs.items()}
    assert not (scenes["train"] & scenes["eval"] or scenes["train"] & scenes["novel"] or scenes["eval"] & scenes["novel"])
    # Held-out pairs still leave every colour and every shape to training, in other pairs.
    seen = {p for clip in specs["train"] for s in clip.scenes for p in s.pairs()}
    assert {c for c, _ in seen} == set(COLOURS) and {s for _, s in seen} == set(SHAPES)


def test_standard_eval_follows_the_training_distribution(specs: dict[str, list[Clip]]) -> None:
    """The hash split takes no attribute into account: object counts, event kinds and chapter
    clips are as frequent in eval as in train (within sampling noise of 300 clips)."""

    def profile(clips: list[Clip]) -> Counter:
        out: Counter = Counter()
        for c in clips:
            out["chapters"] += len(c.scenes) > 1
            if len(c.scenes) == 1:
                out[f"objects={len(c.scenes[0].objects)}"] += 1
                out[f"event={c.scenes[0].event.kind if c.scenes[0].event else None}"] += 1
        return out

    train, evaluation = profile(specs["train"]), profile(specs["eval"])
    for key in train.keys() | evaluation.keys():
        assert abs(train[key] - evaluation[key]) < 0.1 * N_SPECS, (key, train[key], evaluation[key])


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
    assert all(a.scenes != b.scenes for a, b in zip(first, (generate_clip(4, "train", i, config) for i in range(5))))
    assert all(a.scenes != b.scenes for a, b in zip(first, (generate_clip(3, "eval", i, config) for i in range(5))))
    with pytest.raises(ValueError, match="unknown subset 'test'"):
        generate_clip(3, "test", 0, config)


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
