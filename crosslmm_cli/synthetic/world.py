"""The fixed vocabulary of the synthetic world and the knobs that size it.

Everything a clip can contain is named here, once: the questions, captions and the tokenizer
corpus all draw their words from these tables, so the world's language stays small and closed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from fractions import Fraction
from typing import Any

# Object colours, chosen far apart in hue so that they survive H.264's 4:2:0 chroma subsampling
# and a resize to 64x64, and none of them close to a background.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 90, 235),
    "yellow": (240, 210, 30),
    "purple": (160, 60, 210),
    "cyan": (40, 210, 220),
}

# Shapes of the legible ("small"/"large") objects. Tiny objects are always "dot".
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "cross", "ring")
DOT = "dot"

# Sizes of legible objects; dots are "tiny" and are the world's fine detail.
SIZES: tuple[str, ...] = ("small", "large")
TINY = "tiny"

# Plain backgrounds, plus one vertical gradient (top colour, bottom colour).
BACKGROUNDS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "black": ((16, 16, 16), (16, 16, 16)),
    "gray": ((100, 100, 100), (100, 100, 100)),
    "white": ((228, 228, 228), (228, 228, 228)),
    "gradient": ((40, 40, 40), (190, 190, 190)),
}

# Direction of motion -> unit step in image coordinates (x right, y down).
MOTIONS: dict[str, tuple[int, int]] = {
    "left": (-1, 0),
    "right": (1, 0),
    "up": (0, -1),
    "down": (0, 1),
    "still": (0, 0),
}

# Corners where dots sit, as (row, column) of the corner in a 2x2 layout.
CORNERS: dict[str, tuple[int, int]] = {
    "top left": (0, 0),
    "top right": (0, 1),
    "bottom left": (1, 0),
    "bottom right": (1, 1),
}

EVENT_KINDS: tuple[str, ...] = ("appear", "disappear", "change")

NUMBER_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five")

# (colour, shape) pairs that train and standard eval clips never show and every novel eval
# clip shows at least once: a Latin diagonal, so each colour and each shape is held out exactly
# once and training still sees every colour and every shape in five pairs.
HELD_OUT_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {
        ("red", "ring"),
        ("green", "triangle"),
        ("blue", "cross"),
        ("yellow", "diamond"),
        ("purple", "square"),
        ("cyan", "circle"),
    }
)


@dataclass(frozen=True)
class WorldConfig:
    """Frame geometry and timing of rendered clips.

    Lengths are fractions of the frame side, so a clip spec renders at any `frame_size`.
    The defaults target a demo encoder that sees 64x64 frames as an 8x8 grid of patches: one
    patch is 16x16 pixels here, large objects span about two patches, small ones about 1.5, and
    a dot (10 px, 5 px at 64x64) sits inside a single patch, centred on it.
    """

    frame_size: int = 128
    fps: int = 8
    scene_duration: float = 4.0  # single-scene clips
    chapter_scene_durations: tuple[float, ...] = (3.0, 3.5, 4.0)  # scenes of multi-scene clips
    max_chapter_scenes: int = 3
    time_step: float = 0.5  # events happen on this grid, in the second half of a scene
    patch_grid: int = 8  # the encoder's patch grid that dots are aligned to
    large_diameter: float = 0.28
    small_diameter: float = 0.19
    dot_diameter: float = 0.08
    speed: float = 0.08  # frame sides per second: 40 px over a 4 s clip at 128 px
    max_objects: int = 4
    max_dots: int = 2
    multi_scene_fraction: float = 0.2
    held_out_pairs: frozenset[tuple[str, str]] = field(default=HELD_OUT_PAIRS)

    def __post_init__(self) -> None:
        if self.frame_size < 32 or self.frame_size % (2 * self.patch_grid):
            raise ValueError(
                f"frame_size must be at least 32 and a multiple of {2 * self.patch_grid}, got {self.frame_size}"
            )
        if self.fps < 1:
            raise ValueError(f"fps must be at least 1, got {self.fps}")
        if abs(self.time_step * self.fps - round(self.time_step * self.fps)) > 1e-9:
            step = Fraction(self.time_step).limit_denominator(1000).denominator
            raise ValueError(
                f"fps must be a multiple of {step} so that events on the {self.time_step} s grid fall on frames, got {self.fps}"
            )
        for duration in (self.scene_duration, *self.chapter_scene_durations):
            steps = duration / self.time_step
            if duration < 2 * self.time_step or abs(steps - round(steps)) > 1e-9:
                raise ValueError(f"scene duration {duration} s must be a multiple of time_step {self.time_step} s")
        if not 0 < self.dot_diameter < 1 / self.patch_grid:
            raise ValueError(f"dot_diameter must fit inside one of the {self.patch_grid}x{self.patch_grid} patches, got {self.dot_diameter}")
        if not self.dot_diameter < self.small_diameter < self.large_diameter <= 0.4:
            raise ValueError("diameters must grow from dot to small to large, and large stay at most 0.4 of the frame")
        if not 2 <= self.max_chapter_scenes <= 4:
            raise ValueError(f"max_chapter_scenes must be between 2 and 4, got {self.max_chapter_scenes}")
        if not 1 <= self.max_objects <= 4:
            raise ValueError(f"max_objects must be between 1 and 4, got {self.max_objects}")
        if not 0 <= self.max_dots <= 2:
            raise ValueError(f"max_dots must be between 0 and 2, got {self.max_dots}")
        if not 0.0 <= self.multi_scene_fraction <= 1.0:
            raise ValueError(f"multi_scene_fraction must be in [0, 1], got {self.multi_scene_fraction}")
        if not self.held_out_pairs:
            raise ValueError("held_out_pairs must name at least one (colour, shape) pair: it keeps eval apart from train")
        unknown = {p for p in self.held_out_pairs if p[0] not in COLOURS or p[1] not in SHAPES}
        if unknown:
            raise ValueError(f"held_out_pairs name unknown colours or shapes: {sorted(unknown)}")

    def diameter(self, size: str) -> float:
        return {"large": self.large_diameter, "small": self.small_diameter, TINY: self.dot_diameter}[size]

    def event_times(self, duration: float) -> tuple[float, ...]:
        """Times an event may happen in a scene of `duration` s: the second half, on the grid."""
        steps = round(duration / self.time_step)
        return tuple(k * self.time_step for k in range((steps + 1) // 2, steps))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (written next to a dataset as world.json)."""
        data = asdict(self)
        data["chapter_scene_durations"] = list(self.chapter_scene_durations)
        data["held_out_pairs"] = sorted(list(p) for p in self.held_out_pairs)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorldConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown world settings: {', '.join(unknown)}")
        kwargs = dict(data)
        if "chapter_scene_durations" in kwargs:
            kwargs["chapter_scene_durations"] = tuple(kwargs["chapter_scene_durations"])
        if "held_out_pairs" in kwargs:
            kwargs["held_out_pairs"] = frozenset(tuple(p) for p in kwargs["held_out_pairs"])
        return cls(**kwargs)
