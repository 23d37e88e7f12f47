"""The facts a caption of the synthetic world states, for precision and recall of `describe`.

A caption in the world's grammar (crosslmm_cli.synthetic.captions) states, per scene: the
background; each object's colour and shape, its size and its motion; each dot's colour and
corner; the event and its time. A multi-scene caption also states the number of scenes. Objects
are keyed by colour and shape, so a wrong colour makes that object's size and motion facts wrong
too: a fact counts only if everything it says is true.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

_SCENES = re.compile(r"The video has (\w+) scenes\.")
_SPLIT = re.compile(r"\b(?:First|Then|Next|Finally), ")
_BACKGROUND = re.compile(r"\b[Oo]n an? (\w+) background\b")
_OBJECT = re.compile(r"\ban? (small|large) (\w+) (\w+) (moves (?:left|right|up|down)|stays still)")
_DOT = re.compile(r"\ba tiny (\w+) dot is in the (top left|top right|bottom left|bottom right) corner", re.IGNORECASE)
_EVENT = re.compile(r"\bAt (\d+(?:\.\d+)?) seconds, (.+?)\.(?:\s|$)")

Fact = tuple[str, ...]


def scene_facts(text: str, scene: int) -> set[Fact]:
    facts: set[Fact] = set()
    background = _BACKGROUND.search(text)
    if background:
        facts.add((str(scene), "background", background.group(1)))
    for size, colour, shape, motion in _OBJECT.findall(text):
        motion = "still" if motion == "stays still" else motion.split()[-1]
        facts |= {(str(scene), "object", colour, shape), (str(scene), "size", colour, shape, size),
                  (str(scene), "motion", colour, shape, motion)}
    for colour, corner in _DOT.findall(text):
        facts.add((str(scene), "dot", colour.lower(), corner))
    for time, phrase in _EVENT.findall(text):
        facts |= {(str(scene), "event", phrase), (str(scene), "event_time", phrase, f"{float(time):.1f}")}
    return facts


def caption_facts(text: str) -> set[Fact]:
    """Every fact a caption states (see the module docstring)."""
    scenes = _SCENES.search(text)
    if scenes is None:
        return scene_facts(text, 0)
    facts: set[Fact] = {("scenes", scenes.group(1))}
    parts = _SPLIT.split(text[scenes.end():])[1:]
    for index, part in enumerate(parts):
        facts |= scene_facts(part, index)
    return facts


def precision_recall(pairs: Iterable[tuple[str, str]]) -> dict[str, float]:
    """Micro-averaged precision and recall of (prediction, truth) caption pairs."""
    predicted = true = right = 0
    for prediction, truth in pairs:
        got, want = caption_facts(prediction or ""), caption_facts(truth)
        predicted += len(got)
        true += len(want)
        right += len(got & want)
    return {"precision": right / predicted if predicted else 0.0, "recall": right / true if true else 0.0,
            "facts": true}
