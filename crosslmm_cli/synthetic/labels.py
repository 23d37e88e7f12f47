"""Dense ground truth: what covers each patch of an encoder's grid, in any frame of a clip.

The spec says exactly where every object is, so every patch of every frame comes with labels for
free: the fraction of it that each colour, shape and size covers (the rest is background), a
finer map of how much of it any object covers, and the frame's background. These train the demo
model's vision encoder before it ever sees a question (docs/synthetic-world.md), the way real
encoders are pretrained on labelled images before a video LLM is built on them.

Fractions come from the renderer's own anti-aliased coverage (`render.coverage`) averaged over each
patch, so labels and pixels agree exactly (before video compression).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crosslmm_cli.synthetic.render import coverage
from crosslmm_cli.synthetic.scene import Clip, Scene
from crosslmm_cli.synthetic.world import BACKGROUNDS, COLOURS, DOT, SHAPES, SIZES, TINY, WorldConfig

NONE = "none"  # what covers a patch that no object covers: the background
COLOUR_CLASSES: tuple[str, ...] = (NONE, *COLOURS)
SHAPE_CLASSES: tuple[str, ...] = (NONE, *SHAPES, DOT)
SIZE_CLASSES: tuple[str, ...] = (NONE, *SIZES, TINY)
BACKGROUND_CLASSES: tuple[str, ...] = tuple(BACKGROUNDS)


@dataclass(frozen=True, eq=False)
class PatchLabels:
    """Labels of one frame on a grid x grid patch grid (patches row-major, P = grid * grid).

    colour (P, 7), shape (P, 8), size (P, 4): the fraction of each patch each class covers (rows
    sum to 1; class 0 is the uncovered rest). silhouette (P, cells * cells): how much of each of
    a patch's sub-cells any object covers. count / dots: legible objects / dots on screen.
    """

    colour: np.ndarray
    shape: np.ndarray
    size: np.ndarray
    silhouette: np.ndarray
    background: int
    count: int
    dots: int


def thing_coverage(scene: Scene, index: int, t: float, config: WorldConfig) -> np.ndarray | None:
    """(S, S) how much of each pixel thing `index` covers at scene time t, or None when it is not
    on screen (not yet appeared, gone, or outside the frame)."""
    drawn = coverage(scene.things[index], t, config) if scene.visible(index, t) else None
    if drawn is None:
        return None
    rows, cols, alpha = drawn
    full = np.zeros((config.frame_size, config.frame_size), np.float32)
    full[rows, cols] = alpha
    return full


def patch_means(full: np.ndarray, grid: int) -> np.ndarray:
    """(S, S) per-pixel values -> (grid * grid,) their mean over each patch, row-major."""
    size = full.shape[0]
    return full.reshape(grid, size // grid, grid, size // grid).mean(axis=(1, 3)).reshape(grid * grid)


def patch_labels(clip: Clip, t: float, config: WorldConfig, *, grid: int | None = None, cells: int = 4) -> PatchLabels:
    """The labels of the frame at clip time `t` (the state after every event at or before t)."""
    grid = grid or config.patch_grid
    size = config.frame_size
    if size % (grid * cells):
        raise ValueError(f"frame size {size} is not a multiple of grid {grid} x cells {cells}")
    scene, local = clip.scene_at(float(t))
    patches = grid * grid
    colour = np.zeros((patches, len(COLOUR_CLASSES)), np.float32)
    shape = np.zeros((patches, len(SHAPE_CLASSES)), np.float32)
    sizes = np.zeros((patches, len(SIZE_CLASSES)), np.float32)
    covered = np.zeros((size, size), np.float32)
    count = dots = 0
    for index, thing in enumerate(scene.things):
        full = thing_coverage(scene, index, local, config)
        if full is None:
            continue
        covered += full
        share = patch_means(full, grid)
        colour[:, COLOUR_CLASSES.index(scene.colour(index, local))] += share
        shape[:, SHAPE_CLASSES.index(thing.shape)] += share
        sizes[:, SIZE_CLASSES.index(thing.size)] += share
        dots += thing.is_dot
        count += not thing.is_dot
    for table in (colour, shape, sizes):  # objects never overlap: the rest of a patch is background
        table[:, 0] = np.clip(1.0 - table[:, 1:].sum(axis=1), 0.0, 1.0)
        table /= table.sum(axis=1, keepdims=True)
    step = size // (grid * cells)
    silhouette = np.clip(covered, 0.0, 1.0).reshape(grid, cells, step, grid, cells, step).mean(axis=(2, 5))
    silhouette = silhouette.transpose(0, 2, 1, 3).reshape(patches, cells * cells)
    return PatchLabels(colour, shape, sizes, silhouette, BACKGROUND_CLASSES.index(scene.background), count, dots)
