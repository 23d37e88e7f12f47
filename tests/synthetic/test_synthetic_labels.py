"""Dense labels agree with the rendered pixels and with the scene's rules over time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crosslmm_cli.synthetic import Clip, WorldConfig, generate_clip
from crosslmm_cli.synthetic.labels import (
    BACKGROUND_CLASSES,
    COLOUR_CLASSES,
    SHAPE_CLASSES,
    SIZE_CLASSES,
    patch_labels,
)
from crosslmm_cli.synthetic.render import background, render_scene_frame
from crosslmm_cli.synthetic.scene import Event, Scene, Thing
from crosslmm_cli.synthetic.world import COLOURS


def _clips(config: WorldConfig, n: int = 24) -> list[Clip]:
    return [generate_clip(3, "train", i, config) for i in range(n)]


def test_fully_covered_patches_show_their_colour_and_uncovered_ones_the_background(config):
    cell = config.frame_size // config.patch_grid
    checked_object = checked_background = 0
    for clip in _clips(config):
        for t in (0.0, 1.75, 3.5):
            scene, local = clip.scene_at(t)
            frame = render_scene_frame(scene, local, config).astype(np.int16)
            labels = patch_labels(clip, t, config)
            plain = background(scene.background, config.frame_size)
            for p in range(config.patch_grid**2):
                block = frame[(p // config.patch_grid) * cell :][:cell, (p % config.patch_grid) * cell :][:, :cell]
                top = int(labels.colour[p].argmax())
                if top > 0 and labels.colour[p, top] > 0.999:
                    assert (block == np.asarray(COLOURS[COLOUR_CLASSES[top]])).all()
                    checked_object += 1
                elif labels.colour[p, 0] > 0.999999:
                    rows = slice((p // config.patch_grid) * cell, (p // config.patch_grid + 1) * cell)
                    cols = slice((p % config.patch_grid) * cell, (p % config.patch_grid + 1) * cell)
                    assert np.abs(block - np.rint(plain[rows, cols])).max() <= 1
                    checked_background += 1
            assert labels.background == BACKGROUND_CLASSES.index(scene.background)
    assert checked_object > 10 and checked_background > 500


def test_label_rows_are_distributions_and_areas_match_the_shapes(config):
    patch_area = (config.frame_size / config.patch_grid) ** 2
    for clip in _clips(config, 8):
        labels = patch_labels(clip, 0.0, config)
        for table in (labels.colour, labels.shape, labels.size):
            np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-5)
            assert (table >= 0).all()
        scene = clip.scenes[0]
        for thing in scene.objects:
            if thing.shape == "circle" and scene.visible(scene.things.index(thing), 0.0):
                radius = config.diameter(thing.size) / 2 * config.frame_size
                column = SHAPE_CLASSES.index("circle")
                assert labels.shape[:, column].sum() * patch_area == pytest.approx(math.pi * radius**2, rel=0.02)
    # The silhouette of a patch averages to the patch's object coverage.
    labels = patch_labels(_clips(config, 1)[0], 0.0, config)
    np.testing.assert_allclose(labels.silhouette.mean(axis=1), 1 - labels.colour[:, 0], atol=1e-5)


def test_labels_follow_events_in_time(config):
    circle = Thing("circle", "red", "large", 0.3, 0.3)
    square = Thing("square", "blue", "small", 0.7, 0.7)
    changing = Clip("c", (Scene("gray", (circle, square), 4.0, Event("change", 0, 2.5, new_colour="green")),))
    before, after = patch_labels(changing, 2.0, config), patch_labels(changing, 2.5, config)
    red, green = COLOUR_CLASSES.index("red"), COLOUR_CLASSES.index("green")
    assert before.colour[:, red].sum() > 1 and before.colour[:, green].sum() == 0
    assert after.colour[:, green].sum() == pytest.approx(before.colour[:, red].sum()) and after.colour[:, red].sum() == 0
    np.testing.assert_array_equal(before.shape, after.shape)  # a colour change keeps the shape
    vanishing = Clip("d", (Scene("gray", (circle, square), 4.0, Event("disappear", 1, 3.0)),))
    assert (patch_labels(vanishing, 2.5, config).count, patch_labels(vanishing, 3.0, config).count) == (2, 1)
    large = SIZE_CLASSES.index("large")
    assert patch_labels(vanishing, 0.0, config).size[:, large].sum() > 1


def test_a_grid_that_does_not_divide_the_frame_is_refused(config):
    with pytest.raises(ValueError, match="not a multiple"):
        patch_labels(_clips(config, 1)[0], 0.0, config, grid=7)
