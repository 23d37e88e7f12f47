"""Numpy renderer: clip spec -> uint8 frames (T, H, W, 3).

Shapes are drawn from signed distance functions with one pixel of analytic anti-aliasing
(coverage = clip(0.5 - distance, 0, 1)), so edges stay clean after H.264 and a resize to 64x64.
Every shape fits the square of half side r around its centre (r = diameter / 2), which is the box
that placement keeps apart.
"""

from __future__ import annotations

import numpy as np

from crosslmm_cli.synthetic.scene import Clip, Scene, Thing
from crosslmm_cli.synthetic.world import BACKGROUNDS, COLOURS, DOT, WorldConfig

_SQRT3 = np.sqrt(3.0)


def _box(px: np.ndarray, py: np.ndarray, hx: float, hy: float) -> np.ndarray:
    qx, qy = np.abs(px) - hx, np.abs(py) - hy
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    return outside + np.minimum(np.maximum(qx, qy), 0)


def _segment(px: np.ndarray, py: np.ndarray, ax: float, ay: float, bx: float, by: float) -> np.ndarray:
    ex, ey = bx - ax, by - ay
    wx, wy = px - ax, py - ay
    h = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0, 1)
    return np.hypot(wx - ex * h, wy - ey * h)


def _triangle(px: np.ndarray, py: np.ndarray, r: float) -> np.ndarray:
    """Equilateral, apex up, side 2r, centred in its bounding box (image y points down)."""
    h = r * _SQRT3 / 2
    verts = [(0.0, -h), (r, h), (-r, h)]
    dist = np.minimum.reduce([_segment(px, py, *verts[i], *verts[(i + 1) % 3]) for i in range(3)])
    # Inside when on the inner side of all three edges (vertices are clockwise on screen).
    inside = np.ones_like(px, dtype=bool)
    for (ax, ay), (bx, by) in zip(verts, verts[1:] + verts[:1]):
        inside &= (bx - ax) * (py - ay) - (by - ay) * (px - ax) >= 0
    return np.where(inside, -dist, dist)


def shape_distance(shape: str, px: np.ndarray, py: np.ndarray, r: float) -> np.ndarray:
    """Signed distance in pixels from points (px, py), relative to the centre, to `shape` of
    half-extent r (negative inside)."""
    if shape in ("circle", DOT):
        return np.hypot(px, py) - r
    if shape == "square":
        return _box(px, py, 0.85 * r, 0.85 * r)
    if shape == "diamond":  # a square turned 45 degrees, corners at distance r
        u, v = (px + py) / np.sqrt(2), (py - px) / np.sqrt(2)
        return _box(u, v, r / np.sqrt(2), r / np.sqrt(2))
    if shape == "triangle":
        return _triangle(px, py, r)
    if shape == "cross":
        arm = 0.34 * r
        return np.minimum(_box(px, py, r, arm), _box(px, py, arm, r))
    if shape == "ring":
        return np.abs(np.hypot(px, py) - 0.72 * r) - 0.28 * r
    raise ValueError(f"unknown shape {shape!r}")


def background(name: str, size: int) -> np.ndarray:
    """(size, size, 3) float32 background: plain, or a vertical gradient from top to bottom colour."""
    top, bottom = (np.asarray(c, np.float32) for c in BACKGROUNDS[name])
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    return np.broadcast_to(top + (bottom - top) * ramp, (size, size, 3)).copy()


def coverage(thing: Thing, t: float, config: WorldConfig) -> tuple[slice, slice, np.ndarray] | None:
    """Where `thing` is drawn at scene time t: rows, columns and its anti-aliased coverage there
    (float32 in [0, 1]), or None when it lies outside the frame. The renderer blends with this
    alpha, and the dense labels (`synthetic.labels`) are averages of it."""
    size = config.frame_size
    r = config.diameter(thing.size) / 2 * size
    cx, cy = (c * size for c in thing.position(t))
    # Only the pixels of the bounding box (plus one for anti-aliasing) are evaluated.
    x0, x1 = max(int(np.floor(cx - r - 1)), 0), min(int(np.ceil(cx + r + 1)) + 1, size)
    y0, y1 = max(int(np.floor(cy - r - 1)), 0), min(int(np.ceil(cy + r + 1)) + 1, size)
    if x0 >= x1 or y0 >= y1:
        return None
    # Pixel centres sit at integer + 0.5.
    py, px = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
    alpha = np.clip(0.5 - shape_distance(thing.shape, px - cx, py - cy, r), 0.0, 1.0)
    return slice(y0, y1), slice(x0, x1), alpha


def render_scene_frame(scene: Scene, t: float, config: WorldConfig) -> np.ndarray:
    """The scene at its own time t as uint8 (H, W, 3)."""
    canvas = background(scene.background, config.frame_size)
    for index, thing in enumerate(scene.things):
        drawn = coverage(thing, t, config) if scene.visible(index, t) else None
        if drawn is None:
            continue
        rows, cols, alpha = drawn
        colour = np.asarray(COLOURS[scene.colour(index, t)], np.float32)
        patch = canvas[rows, cols]
        canvas[rows, cols] = patch + (colour - patch) * alpha[..., None]
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8)


def frame_times(clip: Clip, config: WorldConfig) -> np.ndarray:
    """Timestamp in seconds of every frame of the clip: frame i shows time i / fps."""
    n = round(clip.duration * config.fps)
    return np.arange(n, dtype=np.float64) / config.fps


def render_clip(clip: Clip, config: WorldConfig) -> np.ndarray:
    """All frames of the clip: uint8 (T, H, W, 3), T = duration * fps."""
    frames = []
    for t in frame_times(clip, config):
        scene, local = clip.scene_at(float(t))
        frames.append(render_scene_frame(scene, local, config))
    return np.stack(frames)
