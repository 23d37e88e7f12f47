"""Chapter boundaries from changes in the frames' vision features (pure numpy, no model).

Input is one embedding per sampled frame, (T, D) (the mean of the vision encoder's N patch
features), and the frames' timestamps. A boundary is a place where consecutive frames differ
much more than usual (cosine distance, robust threshold); boundaries are taken strongest first
while every chapter stays at least `min_length` long, up to `max_chapters`. Chapters longer than
`max_length`, or too few chapters for `min_chapters`, are then split at their strongest inner
change (among cuts that need no extra chapters), or evenly where the frames offer none.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, replace

import numpy as np

from crosslmm_cli.errors import UsageError

_EPS = 1e-6
# Consecutive frames of one shot differ by a few hundredths in cosine distance (camera motion,
# noise); a cut is several tenths. The automatic threshold is a robust z-score with this floor.
MIN_AUTO_THRESHOLD = 0.05
ROBUST_Z = 4.0


@dataclass(frozen=True)
class ChapterOptions:
    min_length: float = 10.0  # seconds
    max_length: float | None = None  # seconds; None: no limit
    max_chapters: int = 20
    min_chapters: int = 1
    threshold: float | None = None  # cosine distance a change needs; None: from the scores themselves
    resolution: float = 0.001  # boundaries snap to multiples of this (1.0: whole seconds)

    def __post_init__(self) -> None:
        if not self.min_length >= 0:
            raise UsageError(f"--min-length must be >= 0, not {self.min_length}")
        if self.max_length is not None and not self.max_length > 0:
            raise UsageError(f"--max-length must be > 0, not {self.max_length}")
        if self.max_length is not None and self.max_length < self.min_length:
            raise UsageError(f"--max-length ({self.max_length:g} s) is shorter than --min-length ({self.min_length:g} s)")
        if self.max_chapters < 1:
            raise UsageError(f"--max-chapters must be >= 1, not {self.max_chapters}")
        if self.min_chapters > self.max_chapters:
            raise UsageError(f"at least {self.min_chapters} chapters are needed but --max-chapters is {self.max_chapters}")
        if not self.resolution > 0:
            raise UsageError("resolution must be > 0")


@dataclass(frozen=True)
class Chapter:
    start: float  # seconds
    end: float
    frames: tuple[int, ...]  # indices of the sampled frames that show this chapter
    title: str = ""

    @property
    def length(self) -> float:
        return self.end - self.start

    def titled(self, title: str) -> Chapter:
        return replace(self, title=title)


def change_scores(features: np.ndarray) -> np.ndarray:
    """Cosine distance between consecutive frame embeddings: (T, D) -> (T-1,), in [0, 2]."""
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2:
        raise ValueError(f"features must be (T, D), got shape {feats.shape}")
    norms = np.linalg.norm(feats, axis=1, keepdims=True)
    unit = feats / np.maximum(norms, 1e-12)
    return 1.0 - np.sum(unit[1:] * unit[:-1], axis=1)


def auto_threshold(scores: np.ndarray) -> float:
    """median + ROBUST_Z * (MAD scaled to a standard deviation), at least MIN_AUTO_THRESHOLD."""
    if scores.size == 0:
        return math.inf
    median = float(np.median(scores))
    mad = float(np.median(np.abs(scores - median))) * 1.4826
    return max(median + ROBUST_Z * mad, MIN_AUTO_THRESHOLD)


def detect_chapters(
    features: np.ndarray, timestamps: np.ndarray, duration: float, options: ChapterOptions = ChapterOptions()
) -> list[Chapter]:
    """Chapters covering [0, duration], boundaries between sampled frames where the picture changes."""
    times = np.asarray(timestamps, dtype=np.float64)
    if len(times) != len(features):
        raise ValueError(f"{len(features)} feature rows but {len(times)} timestamps")
    if not duration > 0:
        raise ValueError(f"duration must be > 0, got {duration}")
    scores = change_scores(features) if len(times) >= 2 else np.zeros(0)
    # Candidate i sits halfway between frames i and i+1.
    candidates = [(float(s), _snap((times[i] + times[i + 1]) / 2, options.resolution)) for i, s in enumerate(scores)]
    threshold = options.threshold if options.threshold is not None else auto_threshold(scores)
    cuts = _Cuts(duration, options)
    for score, t in sorted(candidates, key=lambda c: -c[0]):
        if score < threshold or cuts.full():
            break
        cuts.add_if_fits(t)
    if options.max_length is not None:
        while not cuts.full() and (longest := cuts.longest()) and longest[1] - longest[0] > options.max_length + _EPS:
            if not cuts.split(longest, candidates, options.max_length):
                break
    while len(cuts) < options.min_chapters and not cuts.full():
        if not cuts.split(cuts.longest(), candidates, None):
            break
    return _chapters(cuts.edges(), times)


class _Cuts:
    """Sorted boundary times inside (0, duration) that keep every chapter >= min_length."""

    def __init__(self, duration: float, options: ChapterOptions) -> None:
        self.duration = duration
        self.options = options
        self.times: list[float] = []

    def __len__(self) -> int:  # number of chapters
        return len(self.times) + 1

    def full(self) -> bool:
        return len(self) >= self.options.max_chapters

    def edges(self) -> list[float]:
        return [0.0, *self.times, self.duration]

    def fits(self, t: float) -> bool:
        if not 0 < t < self.duration or t in self.times:
            return False
        k = bisect.bisect(self.times, t)
        before = self.times[k - 1] if k else 0.0
        after = self.times[k] if k < len(self.times) else self.duration
        return t - before >= self.options.min_length - _EPS and after - t >= self.options.min_length - _EPS

    def add_if_fits(self, t: float) -> bool:
        if self.fits(t):
            bisect.insort(self.times, t)
            return True
        return False

    def longest(self) -> tuple[float, float]:
        edges = self.edges()
        return max(zip(edges[:-1], edges[1:]), key=lambda span: span[1] - span[0])

    def split(self, span: tuple[float, float], candidates: list[tuple[float, float]], max_length: float | None) -> bool:
        """Split `span` at its strongest inner change, else into equal parts; False if impossible.

        With `max_length`, only cuts that keep the number of parts minimal are considered, so a
        long static stretch becomes ceil(length / max_length) chapters, not one per noise blip.
        """
        start, end = span
        inside = [(s, t) for s, t in candidates if start < t < end and self.fits(t)]
        if max_length:
            needed = math.ceil((end - start) / max_length - _EPS)
            inside = [
                (s, t) for s, t in inside
                if math.ceil((t - start) / max_length - _EPS) + math.ceil((end - t) / max_length - _EPS) == needed
            ]  # fmt: skip
        if inside:
            return self.add_if_fits(max(inside)[1])
        parts = max(2, math.ceil((end - start) / max_length - _EPS)) if max_length else 2
        parts = min(parts, self.options.max_chapters - len(self) + 1)
        added = False
        for j in range(1, parts):
            added |= self.add_if_fits(_snap(start + (end - start) * j / parts, self.options.resolution))
        return added


def _chapters(edges: list[float], times: np.ndarray) -> list[Chapter]:
    chapters = []
    for k, (start, end) in enumerate(zip(edges[:-1], edges[1:])):
        last = k == len(edges) - 2
        inside = [i for i, t in enumerate(times) if start <= t < end or (last and t == end)]
        if not inside and len(times):  # a chapter between two sparse frames: show the nearest one
            inside = [int(np.argmin(np.abs(times - (start + end) / 2)))]
        chapters.append(Chapter(start=start, end=end, frames=tuple(inside)))
    return chapters


def _snap(t: float, resolution: float) -> float:
    return round(round(t / resolution) * resolution, 6)
