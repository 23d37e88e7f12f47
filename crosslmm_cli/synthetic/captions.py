"""The world's sentences: how objects are named, captions, event phrases, chapter titles, times.

One fixed grammar, so that a model trained from scratch can learn to produce it word for word
and an exact-match score on "describe" means something.
"""

from __future__ import annotations

from crosslmm_cli.synthetic.scene import Clip, Scene, Thing
from crosslmm_cli.synthetic.world import CORNERS, NUMBER_WORDS

# How the scenes of a 2-, 3- or 4-scene clip are introduced in its caption.
CONNECTIVES: dict[int, tuple[str, ...]] = {
    2: ("First", "Then"),
    3: ("First", "Then", "Finally"),
    4: ("First", "Then", "Next", "Finally"),
}


def format_time(seconds: float) -> str:
    """Times in answers and captions: one decimal, e.g. "2.5 seconds"."""
    return f"{seconds:.1f} seconds"


def number_word(n: int) -> str:
    return NUMBER_WORDS[n]


def join(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def name(scene: Scene, index: int) -> str:
    """How questions refer to an object: "red circle"; just "circle" for one that changes colour
    (shapes are unique in a scene, colours are not stable for it); "red dot" for dots."""
    thing = scene.things[index]
    if scene.event_on(index, "change"):
        return thing.shape
    return f"{thing.colour} {thing.shape}"


def motion_phrase(motion: str) -> str:
    return "stays still" if motion == "still" else f"moves {motion}"


def dot_corner(dot: Thing) -> str:
    """The corner a dot sits in, from its centre."""
    key = (int(dot.y > 0.5), int(dot.x > 0.5))
    return next(corner for corner, rc in CORNERS.items() if rc == key)


def event_phrase(scene: Scene) -> str:
    """What happens at the end of the scene, as an answer: "the square turns green"."""
    ev = scene.event
    if ev is None:
        return "nothing changes"
    thing = scene.things[ev.target]
    if ev.kind == "appear":
        return f"a {thing.size} {thing.colour} {thing.shape} appears"
    if ev.kind == "disappear":
        return f"the {name(scene, ev.target)} disappears"
    return f"the {thing.shape} turns {ev.new_colour}"


def scene_description(scene: Scene) -> str:
    """One scene in the caption grammar, e.g. "on a black background, a large red circle moves
    left and a small blue square stays still. A tiny yellow dot is in the top left corner. At 2.5
    seconds, the square turns green." (starts lower case; callers capitalise)."""
    present = [
        f"a {th.size} {th.colour} {th.shape} {motion_phrase(th.motion)}"
        for i, th in enumerate(scene.things)
        if not th.is_dot and not scene.event_on(i, "appear")
    ]
    text = f"on a {scene.background} background, {join(present)}."
    dots = [f"a tiny {d.colour} dot is in the {dot_corner(d)} corner" for d in scene.dots]
    if dots:
        text += " " + capitalise(join(dots)) + "."
    if scene.event is not None:
        text += f" At {format_time(scene.event.time)}, {event_phrase(scene)}."
    return text


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def caption(clip: Clip) -> str:
    """The answer to "describe": the scene, or "The video has N scenes. First, ... Then, ..."."""
    if len(clip.scenes) == 1:
        return capitalise(scene_description(clip.scenes[0]))
    n = len(clip.scenes)
    words = CONNECTIVES[n]
    parts = [f"The video has {number_word(n)} scenes."]
    parts += [f"{word}, {scene_description(scene)}" for word, scene in zip(words, clip.scenes)]
    return " ".join(parts)


def chapter_title(scene: Scene) -> str:
    """Short title of a scene: "red circle and blue square on black"."""
    return f"{join([f'{th.colour} {th.shape}' for th in scene.objects])} on {scene.background}"


def chapters(clip: Clip) -> list[dict[str, float | str]]:
    """[{"start", "end", "title"}] with one chapter per scene."""
    return [
        {"start": start, "end": start + scene.duration, "title": chapter_title(scene)}
        for start, scene in zip(clip.scene_starts(), clip.scenes)
    ]


def format_chapters(clip: Clip) -> str:
    """The answer to a chapter prompt: one line per chapter, "0.0 - 3.5 seconds: <title>"."""
    return "\n".join(
        f"{ch['start']:.1f} - {format_time(float(ch['end']))}: {ch['title']}" for ch in chapters(clip)
    )

