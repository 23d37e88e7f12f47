"""Helpers shared by the synthetic-world tests: the fixture dataset's size, an mp4 decoder,
area pooling and a per-pixel colour labeller. (A uniquely named module, not conftest.py, so that
importing it can never pick up another test area's conftest.)"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

import numpy as np

from crosslmm_cli.synthetic import ffmpeg_executable
from crosslmm_cli.synthetic.render import background
from crosslmm_cli.synthetic.world import COLOURS

SEED = 3
N_CLIPS = 12  # per split; with seed 3: every event kind, dots and chapter clips in each split


def decode_mp4(path: Path, size: int) -> np.ndarray:
    """All frames of an mp4 as uint8 (T, size, size, 3), decoded by the same ffmpeg binary."""
    cmd = [ffmpeg_executable(), "-v", "error", "-nostdin", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, size, size, 3)


def area_pool(frame: np.ndarray, grid: int) -> np.ndarray:
    """(H, W, 3) -> (grid, grid, 3) float means over non-overlapping cells (area pooling)."""
    h = frame.shape[0] // grid
    return frame.astype(np.float64).reshape(grid, h, grid, h, 3).mean(axis=(1, 3))


LABELS: tuple[str, ...] = ("", *COLOURS)  # label 0 is the background
UNSURE = -1  # an anti-aliased or codec-smeared edge pixel, close to no reference colour


_PALETTE = np.asarray(list(COLOURS.values()), np.float32)  # (C, 3)


@functools.lru_cache(maxsize=None)
def _background_planes(background_name: str, size: int) -> np.ndarray:
    return np.ascontiguousarray(background(background_name, size).reshape(-1, 3).T)  # (3, HW)


def nearest_label(frame: np.ndarray, background_name: str, max_distance: float = 60.0) -> np.ndarray:
    """Per pixel, the index in LABELS of the closest reference (the background at that pixel or
    an object colour), or UNSURE when none is within `max_distance` (Euclidean, RGB levels):
    (H, W) int. Works on (3, HW) planes so that every reduction runs over the long axis."""
    px = np.ascontiguousarray(frame.reshape(-1, 3).T, dtype=np.float32)  # (3, HW)
    sq = (px * px).sum(0)
    to_colours = sq - 2 * (_PALETTE @ px) + (_PALETTE * _PALETTE).sum(1, keepdims=True)  # (C, HW)
    to_background = ((px - _background_planes(background_name, frame.shape[0])) ** 2).sum(0)
    dist = np.vstack([to_background[None], to_colours])  # (len(LABELS), HW)
    labels = np.where(dist.min(0) <= max_distance**2, dist.argmin(0), UNSURE)
    return labels.reshape(frame.shape[:2])
