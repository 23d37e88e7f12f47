"""Random clip specs under the world's rules, deterministic for a numpy Generator.

Rules that keep every question answerable and every answer unique:
- legible objects in a scene have distinct colours and distinct shapes, and dots take colours no
  legible object uses (before or after a colour change), so "the circle", "the red object" and
  "the red dot" each name one thing;
- no two objects ever overlap (their swept boxes are disjoint), so counts and colours are
  visible in every frame;
- an object that appears stands still (it is seen too briefly to judge motion), and at least
  one object is on screen from the start; at most one event per scene, in its second half;
- dots sit on the centre of one encoder patch in a corner block, so pooling to one token per
  frame averages them away while an 8x8 grid keeps them whole;
- ordinary clips never show a held-out (colour, shape) pair and every "novel" clip shows one.
"""

from __future__ import annotations

import numpy as np

from crosslmm_cli.synthetic.scene import Clip, Event, Scene, Thing
from crosslmm_cli.synthetic.world import (
    BACKGROUNDS,
    COLOURS,
    CORNERS,
    DOT,
    EVENT_KINDS,
    MOTIONS,
    SHAPES,
    SIZES,
    TINY,
    WorldConfig,
)

_EDGE = 0.02  # no object comes closer than this to the frame's edge
_GAP = 0.03  # nor closer than this to another object
_PLACEMENT_TRIES = 60
_SCENE_TRIES = 200
_STILL_PROBABILITY = 0.1
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in frame fractions


class SamplingError(RuntimeError):
    """The world's rules could not be met (a config with too little room)."""


def _pick(rng: np.random.Generator, options: list[str] | tuple[str, ...], k: int) -> list[str]:
    return [options[i] for i in rng.permutation(len(options))[:k]]


def _draw_motion(rng: np.random.Generator) -> str:
    """A direction, or "still" with a low probability: appearing objects and crowded scenes
    (which only fit with objects standing still) add more stillness on their own."""
    motions = list(MOTIONS)
    p = [_STILL_PROBABILITY if m == "still" else (1 - _STILL_PROBABILITY) / (len(motions) - 1) for m in motions]
    return motions[int(rng.choice(len(motions), p=p))]


def _swept_box(thing: Thing, duration: float, half: float) -> Box:
    (xa, ya), (xb, yb) = thing.position(0.0), thing.position(duration)
    return (min(xa, xb) - half, min(ya, yb) - half, max(xa, xb) + half, max(ya, yb) + half)


def _apart(a: Box, b: Box) -> bool:
    return a[2] + _GAP <= b[0] or b[2] + _GAP <= a[0] or a[3] + _GAP <= b[1] or b[3] + _GAP <= a[1]


def _place_dots(rng: np.random.Generator, config: WorldConfig, colours: list[str]) -> list[Thing]:
    """Each dot at the centre of one patch of a 2x2 block in a distinct corner of the grid."""
    g = config.patch_grid
    dots = []
    for colour, corner in zip(colours, _pick(rng, list(CORNERS), len(colours))):
        row, col = CORNERS[corner]
        cy = int(rng.integers(0, 2)) + (g - 2) * row
        cx = int(rng.integers(0, 2)) + (g - 2) * col
        dots.append(Thing(DOT, colour, TINY, (cx + 0.5) / g, (cy + 0.5) / g))
    return dots


def _place_object(
    rng: np.random.Generator, config: WorldConfig, proto: Thing, duration: float, taken: list[Box]
) -> Thing | None:
    """`proto` at a random start such that its whole path stays in frame and clear of `taken`."""
    half = config.diameter(proto.size) / 2
    dx, dy = MOTIONS[proto.motion]
    travel = proto.speed * duration
    lo_x, hi_x = _EDGE + half - min(dx, 0) * travel, 1 - _EDGE - half - max(dx, 0) * travel
    lo_y, hi_y = _EDGE + half - min(dy, 0) * travel, 1 - _EDGE - half - max(dy, 0) * travel
    if lo_x > hi_x or lo_y > hi_y:
        return None
    for _ in range(_PLACEMENT_TRIES):
        x, y = round(float(rng.uniform(lo_x, hi_x)), 4), round(float(rng.uniform(lo_y, hi_y)), 4)
        thing = Thing(proto.shape, proto.colour, proto.size, x, y, proto.motion, proto.speed)
        box = _swept_box(thing, duration, half)
        if all(_apart(box, other) for other in taken):
            taken.append(box)
            return thing
    return None


def _dot_box(config: WorldConfig, dot: Thing) -> Box:
    half = config.dot_diameter / 2
    return (dot.x - half, dot.y - half, dot.x + half, dot.y + half)


def _try_scene(
    rng: np.random.Generator,
    config: WorldConfig,
    *,
    duration: float,
    background: str,
    n_objects: int,
    forced_pair: tuple[str, str] | None,
    banned_pairs: frozenset[tuple[str, str]],
    rich: bool,
) -> Scene | None:
    """One attempt at a scene; None if a rule could not be met with these draws."""
    colours, shapes = _pick(rng, list(COLOURS), n_objects), _pick(rng, SHAPES, n_objects)
    if forced_pair is not None:
        colours = [forced_pair[0], *[c for c in colours if c != forced_pair[0]][: n_objects - 1]]
        shapes = [forced_pair[1], *[s for s in shapes if s != forced_pair[1]][: n_objects - 1]]
    pairs = list(zip(colours, shapes))
    if any(p in banned_pairs for p in pairs):
        return None

    kind = None
    if rich:  # no event or one of the kinds, uniformly; "appear" needs another object on screen
        kinds = [None, *(k for k in EVENT_KINDS if k != "appear" or n_objects >= 2)]
        kind = kinds[int(rng.integers(0, len(kinds)))]
    target = int(rng.integers(0, n_objects))
    new_colour = None
    if kind == "change":
        new_colour = _pick(rng, [c for c in COLOURS if c not in colours], 1)[0]
        if (new_colour, shapes[target]) in banned_pairs:
            return None

    protos = []
    for i, (colour, shape) in enumerate(pairs):
        motion = "still" if i == target and kind == "appear" else _draw_motion(rng)
        size = _pick(rng, SIZES, 1)[0]
        protos.append(Thing(shape, colour, size, 0.0, 0.0, motion, config.speed if motion != "still" else 0.0))

    dots: list[Thing] = []
    if rich:
        free = [c for c in COLOURS if c not in colours and c != new_colour]
        dots = _place_dots(rng, config, _pick(rng, free, int(rng.integers(0, min(config.max_dots, len(free)) + 1))))
    taken = [_dot_box(config, d) for d in dots]
    placed = []
    for proto in protos:
        thing = _place_object(rng, config, proto, duration, taken)
        if thing is None:
            return None
        placed.append(thing)
    objects = sorted(placed, key=lambda t: (t.x, t.y))

    event = None
    if kind is not None:
        index = objects.index(placed[target])
        times = config.event_times(duration)
        event = Event(kind, index, times[int(rng.integers(0, len(times)))], new_colour)
    return Scene(background, tuple(objects) + tuple(dots), duration, event)


def sample_scene(
    rng: np.random.Generator,
    config: WorldConfig,
    *,
    duration: float,
    background: str,
    forced_pair: tuple[str, str] | None = None,
    banned_pairs: frozenset[tuple[str, str]] = frozenset(),
    rich: bool = True,
    max_objects: int | None = None,
) -> Scene:
    """A scene obeying the module's rules. `rich` scenes may have dots and an event."""
    top = max_objects or config.max_objects
    # The count is drawn once and kept: redrawing it after a crowded draw failed would skew the
    # count answers towards small numbers. Sizes, motions and positions are redrawn instead.
    n_objects = int(rng.integers(1, top + 1))
    for _ in range(_SCENE_TRIES):
        scene = _try_scene(
            rng,
            config,
            duration=duration,
            background=background,
            n_objects=n_objects,
            forced_pair=forced_pair,
            banned_pairs=banned_pairs,
            rich=rich,
        )
        if scene is not None:
            return scene
    raise SamplingError(f"no scene fits the rules after {_SCENE_TRIES} tries; the objects are too large for the frame")


def sample_clip(rng: np.random.Generator, config: WorldConfig, clip_id: str, *, novel: bool = False) -> Clip:
    """A clip that never shows a held-out (colour, shape) pair: a single-scene question clip or,
    with probability config.multi_scene_fraction, a chapter clip of 2..max_chapter_scenes
    distinct scenes. With `novel`, a single-scene clip that shows at least one held-out pair."""
    held = sorted(config.held_out_pairs)
    if novel:
        forced = held[int(rng.integers(0, len(held)))]
        background = _pick(rng, list(BACKGROUNDS), 1)[0]
        scene = sample_scene(rng, config, duration=config.scene_duration, background=background, forced_pair=forced)
        return Clip(clip_id, (scene,))

    banned = config.held_out_pairs
    if rng.random() >= config.multi_scene_fraction:
        background = _pick(rng, list(BACKGROUNDS), 1)[0]
        scene = sample_scene(rng, config, duration=config.scene_duration, background=background, banned_pairs=banned)
        return Clip(clip_id, (scene,))

    n_scenes = int(rng.integers(2, config.max_chapter_scenes + 1))
    backgrounds = _pick(rng, list(BACKGROUNDS), n_scenes)  # consecutive scenes never share a background
    durations = config.chapter_scene_durations
    scenes: list[Scene] = []
    for k in range(n_scenes):
        previous = frozenset(scenes[-1].pairs()) if scenes else frozenset()
        scenes.append(
            sample_scene(
                rng,
                config,
                duration=durations[int(rng.integers(0, len(durations)))],
                background=backgrounds[k],
                banned_pairs=banned | previous,
                rich=False,
                max_objects=min(3, config.max_objects),
            )
        )
    return Clip(clip_id, tuple(scenes))
