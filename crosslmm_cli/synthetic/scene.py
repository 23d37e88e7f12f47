"""A clip as data: scenes of objects that move, appear, disappear or change colour at known times.

The spec is the ground truth. The renderer draws it, the question writers describe it, and the
tests check the decoded pixels against it, so every rule about time lives here:
a frame at scene time t shows the state *after* every event with time <= t.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from crosslmm_cli.synthetic.world import DOT, EVENT_KINDS, MOTIONS

_EPS = 1e-9  # frame times are i / fps in floating point; an event at 2.5 s shows in the frame at 2.5 s


@dataclass(frozen=True)
class Thing:
    """One object. Position (x, y) is its centre at scene time 0, in fractions of the frame."""

    shape: str
    colour: str
    size: str  # "small" | "large" | "tiny" (dots)
    x: float
    y: float
    motion: str = "still"
    speed: float = 0.0  # frame sides per second along `motion`

    @property
    def is_dot(self) -> bool:
        return self.shape == DOT

    def position(self, t: float) -> tuple[float, float]:
        dx, dy = MOTIONS[self.motion]
        return (self.x + dx * self.speed * t, self.y + dy * self.speed * t)


@dataclass(frozen=True)
class Event:
    """Something that happens to `things[target]` at scene time `time`."""

    kind: str  # "appear" | "disappear" | "change"
    target: int
    time: float
    new_colour: str | None = None  # for "change"

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}; expected one of {EVENT_KINDS}")
        if (self.kind == "change") != (self.new_colour is not None):
            raise ValueError("a 'change' event needs new_colour, and only a 'change' event has one")


@dataclass(frozen=True)
class Scene:
    """Objects on a background for `duration` seconds. Legible objects come first, sorted left to
    right by starting position (the order captions use), then dots."""

    background: str
    things: tuple[Thing, ...]
    duration: float
    event: Event | None = None

    @property
    def objects(self) -> tuple[Thing, ...]:
        """The legible objects (not dots)."""
        return tuple(t for t in self.things if not t.is_dot)

    @property
    def dots(self) -> tuple[Thing, ...]:
        return tuple(t for t in self.things if t.is_dot)

    def event_on(self, index: int, kind: str | None = None) -> Event | None:
        ev = self.event
        if ev is not None and ev.target == index and (kind is None or ev.kind == kind):
            return ev
        return None

    def visible(self, index: int, t: float) -> bool:
        if ev := self.event_on(index, "appear"):
            return t >= ev.time - _EPS
        if ev := self.event_on(index, "disappear"):
            return t < ev.time - _EPS
        return True

    def colour(self, index: int, t: float) -> str:
        ev = self.event_on(index, "change")
        if ev is not None and ev.new_colour is not None and t >= ev.time - _EPS:
            return ev.new_colour
        return self.things[index].colour

    def count(self, t: float) -> int:
        """Number of legible objects on screen at scene time t."""
        return sum(1 for i, th in enumerate(self.things) if not th.is_dot and self.visible(i, t))

    def pairs(self) -> set[tuple[str, str]]:
        """Every (colour, shape) the scene ever shows for a legible object."""
        out = {(th.colour, th.shape) for th in self.objects}
        if self.event is not None and self.event.kind == "change":
            out.add((str(self.event.new_colour), self.things[self.event.target].shape))
        return out


@dataclass(frozen=True)
class Clip:
    """Scenes played back to back; one scene for question clips, several for chapter clips."""

    id: str
    scenes: tuple[Scene, ...]

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.scenes)

    def scene_starts(self) -> tuple[float, ...]:
        starts, t = [], 0.0
        for s in self.scenes:
            starts.append(t)
            t += s.duration
        return tuple(starts)

    def scene_at(self, t: float) -> tuple[Scene, float]:
        """The scene that plays at clip time t, and t in that scene's own time."""
        for start, scene in zip(self.scene_starts(), self.scenes):
            if t < start + scene.duration - _EPS:
                return scene, t - start
        return self.scenes[-1], t - self.scene_starts()[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "duration": self.duration, "scenes": [asdict(s) for s in self.scenes]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Clip:
        scenes = []
        for s in data["scenes"]:
            ev = s.get("event")
            event = Event(**ev) if ev else None
            things = tuple(Thing(**t) for t in s["things"])
            scenes.append(Scene(s["background"], things, float(s["duration"]), event))
        return cls(data["id"], tuple(scenes))
