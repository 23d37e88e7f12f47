"""Ground truth agrees with the pixels: colours, positions, motion, counts and event times read
back from rendered frames and from decoded .mp4 files; dots vanish under 1x1 pooling only."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from synth_frames import LABELS, UNSURE, area_pool, decode_mp4, nearest_label

from crosslmm_cli.synthetic import Clip, WorldConfig, frame_times, generate_clip, read_clips, render_clip
from crosslmm_cli.synthetic.render import render_scene_frame, shape_distance
from crosslmm_cli.synthetic.scene import Scene, Thing
from crosslmm_cli.synthetic.world import SHAPES


def _inside_point(thing: Thing, t: float, config: WorldConfig) -> tuple[int, int]:
    """(row, col) of a pixel well inside the shape (a ring's hole is not inside)."""
    x, y = thing.position(t)
    if thing.shape == "ring":
        x += 0.72 * config.diameter(thing.size) / 2
    return int(y * config.frame_size), int(x * config.frame_size)


def frame_labels(clip: Clip, frames: np.ndarray, config: WorldConfig) -> np.ndarray:
    """(T, H, W) colour labels (indices in LABELS) of every frame against its scene's background."""
    times = frame_times(clip, config)
    assert len(frames) == len(times) == round(clip.duration * config.fps)
    return np.stack([nearest_label(f, clip.scene_at(float(t))[0].background) for f, t in zip(frames, times)])


def check_frames_against_spec(clip: Clip, labels: np.ndarray, config: WorldConfig, frame_slack: int) -> None:
    """Every frame shows what the spec says at that frame's time: each object's colour inside
    it, background where a hidden object would be, and as many object-sized colour areas as the
    scene's count. Decoded frames may smear an event over `frame_slack` frames around it."""
    size = config.frame_size
    min_area = 0.25 * math.pi * (config.small_diameter * size / 2) ** 2  # below any object, above a dot
    for k, t in enumerate(frame_times(clip, config)):
        scene, local = clip.scene_at(float(t))
        ev = scene.event
        near_event = ev is not None and abs(local - ev.time) < frame_slack / config.fps + 1e-9
        for i, thing in enumerate(scene.things):
            if near_event and ev.target == i:
                continue
            row, col = _inside_point(thing, local, config)
            expected = scene.colour(i, local) if scene.visible(i, local) else ""
            assert LABELS[labels[k, row, col]] == expected, (clip.id, k, thing)
        if not near_event:
            sure = labels[k][labels[k] != UNSURE]
            areas = np.bincount(sure, minlength=len(LABELS))[1:]
            assert int((areas >= min_area).sum()) == scene.count(local), (clip.id, k, areas)


def check_motion(clip: Clip, labels: np.ndarray, config: WorldConfig) -> None:
    """Each legible object's centroid moves by speed x elapsed time in its stated direction."""
    for start, scene in zip(clip.scene_starts(), clip.scenes):
        first = round(start * config.fps)
        last = round((start + scene.duration) * config.fps) - 1
        elapsed = (last - first) / config.fps
        for i, thing in enumerate(scene.objects):
            if scene.event is not None and scene.event.target == i:
                continue  # appears, vanishes or recolours: checked by check_event_frame
            label = LABELS.index(thing.colour)
            centroids = []
            for k in (first, last):
                rows, cols = np.nonzero(labels[k] == label)
                centroids.append(np.array([cols.mean(), rows.mean()]))
            moved = (centroids[1] - centroids[0]) / config.frame_size
            x0, y0 = thing.position(0.0)
            x1, y1 = thing.position(elapsed)
            np.testing.assert_allclose(moved, [x1 - x0, y1 - y0], atol=1.5 / config.frame_size, err_msg=clip.id)


def check_event_frame(clip: Clip, labels: np.ndarray, config: WorldConfig, frame_slack: int) -> None:
    """The first frame whose pixel inside the event's object differs from frame 0 is the first
    frame at or after the event time (within `frame_slack` frames), and the change lasts."""
    scene = clip.scenes[0]
    ev = scene.event
    thing = scene.things[ev.target]
    seen = [labels[k][_inside_point(thing, float(t), config)] for k, t in enumerate(frame_times(clip, config))]
    changed = next(k for k, label in enumerate(seen) if label != seen[0])
    assert abs(changed - math.ceil(ev.time * config.fps - 1e-9)) <= frame_slack, (clip.id, changed, ev)
    assert all(label == seen[-1] for label in seen[changed + frame_slack :]), clip.id
    assert LABELS[seen[-1]] == (scene.colour(ev.target, scene.duration) if scene.visible(ev.target, scene.duration) else "")


@pytest.fixture(scope="module")
def spec_clips(config: WorldConfig) -> list[Clip]:
    """40 clips of both splits, rendered without the codec."""
    return [generate_clip(11, split, i, config) for split in ("train", "eval") for i in range(20)]


def test_rendered_frames_match_the_spec(spec_clips: list[Clip], config: WorldConfig) -> None:
    kinds = set()
    for clip in spec_clips:
        labels = frame_labels(clip, render_clip(clip, config), config)
        check_frames_against_spec(clip, labels, config, frame_slack=0)
        check_motion(clip, labels, config)
        if len(clip.scenes) == 1 and clip.scenes[0].event is not None:
            check_event_frame(clip, labels, config, frame_slack=0)
            kinds.add(clip.scenes[0].event.kind)
    assert kinds == {"appear", "disappear", "change"}  # the sample exercised every event kind


def test_decoded_videos_match_the_spec(dataset: dict, config: WorldConfig) -> None:
    kinds, checked = set(), 0
    for files in dataset.values():
        for video, clip in read_clips(files.clips):
            frames = decode_mp4(files.root / video, config.frame_size)
            rendered = render_clip(clip, config)
            assert frames.shape == rendered.shape
            # H.264 at crf 18 on flat colours: small mean error, large only on a few edge pixels.
            assert np.abs(frames.astype(int) - rendered.astype(int)).mean() < 2.0
            labels = frame_labels(clip, frames, config)
            check_frames_against_spec(clip, labels, config, frame_slack=1)
            check_motion(clip, labels, config)
            if len(clip.scenes) == 1 and clip.scenes[0].event is not None:
                check_event_frame(clip, labels, config, frame_slack=1)
                kinds.add(clip.scenes[0].event.kind)
            checked += 1
    assert checked == sum(f.n_clips + f.n_novel_clips for f in dataset.values()) and kinds == {"appear", "disappear", "change"}


def _downscale(frame: np.ndarray, side: int) -> np.ndarray:
    """What the demo encoder sees: the frame area-resized to side x side."""
    return area_pool(frame, side)


def test_dots_are_averaged_away_at_one_token_but_distinct_on_an_8x8_grid(config: WorldConfig) -> None:
    """A scene with its dots and the same scene without them: their 64x64 frames pooled to one
    cell differ by at most ~2 levels (about the codec's noise in that mean), pooled to 8x8 they
    differ by 20+ levels in exactly the dots' cells."""
    checked = 0
    for i in range(60):
        clip = generate_clip(2, "train", i, config)
        scene = clip.scenes[0]
        if len(clip.scenes) > 1 or not scene.dots:
            continue
        without = Scene(scene.background, scene.objects, scene.duration, scene.event)
        with_dots = _downscale(render_scene_frame(scene, 0.0, config), 64)
        no_dots = _downscale(render_scene_frame(without, 0.0, config), 64)
        one_token = np.abs(area_pool(with_dots, 1) - area_pool(no_dots, 1)).max()
        grid = np.abs(area_pool(with_dots, 8) - area_pool(no_dots, 8)).max(axis=-1)  # (8, 8)
        assert one_token < 2.5, (clip.id, one_token)
        assert int((grid > 1.0).sum()) == len(scene.dots), clip.id  # each dot inside one patch
        assert sorted(grid.ravel())[-len(scene.dots)] > 20.0, (clip.id, grid.max())
        checked += 1
    assert checked >= 20


def test_dot_colours_are_told_apart_only_by_the_grid(config: WorldConfig) -> None:
    """Recolouring a dot (red <-> blue, the fine-detail question) moves the one-token mean by
    under 2 levels and its 8x8 cell by 40+."""
    scene = Scene("gray", (Thing("dot", "red", "tiny", 1.5 / 8, 6.5 / 8),), 4.0)
    blue = replace(scene, things=(replace(scene.things[0], colour="blue"),))
    a = _downscale(render_scene_frame(scene, 0.0, config), 64)
    b = _downscale(render_scene_frame(blue, 0.0, config), 64)
    assert np.abs(area_pool(a, 1) - area_pool(b, 1)).max() < 2.0
    cell = np.abs(area_pool(a, 8) - area_pool(b, 8)).max(axis=-1)
    assert cell[6, 1] > 40.0 and np.delete(cell.ravel(), 6 * 8 + 1).max() == 0.0


@pytest.mark.parametrize("size", ["small", "large"])
def test_shapes_stay_distinct_at_the_encoders_64x64(size: str, config: WorldConfig) -> None:
    """Every pair of shapes differs in at least 10% of the object's pixels once downscaled to
    64x64, so the demo encoder can tell them apart."""
    r = config.diameter(size) / 2 * 64
    py, px = np.mgrid[0:64, 0:64].astype(np.float64) + 0.5
    masks = {s: np.clip(0.5 - shape_distance(s, px - 32, py - 32, r), 0, 1) for s in SHAPES}
    for a, b in itertools.combinations(SHAPES, 2):
        differ = np.abs(masks[a] - masks[b]).sum()
        assert differ > 0.1 * max(masks[a].sum(), masks[b].sum()), (a, b, differ)
