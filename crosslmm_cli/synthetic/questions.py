"""Question-answer pairs about a clip, in a few templates per question kind, with short answers
from a closed vocabulary, and their multiple-choice form (lettered options, answer letter).

Tasks (what eval reports per type): colour, shape, size, count, motion, event ("what happens at
the end"), when (answer is a time), detail (the tiny dots: fine detail), describe, chapters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from crosslmm_cli.synthetic.captions import (
    caption,
    dot_corner,
    event_phrase,
    format_chapters,
    format_time,
    name,
    number_word,
)
from crosslmm_cli.synthetic.scene import Clip, Scene
from crosslmm_cli.synthetic.world import COLOURS, CORNERS, MOTIONS, SHAPES, SIZES, WorldConfig

# Question templates per kind; {fields} are filled from the scene. Kinds map to tasks below.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "colour": ("What colour is the {shape}{when}?", "Which colour is the {shape}{when}?", "What is the colour of the {shape}{when}?"),
    "shape": ("What shape is the {colour} object?", "Which shape is {colour}?", "What kind of shape is the {colour} object?"),
    "size": ("How big is the {name}?", "What size is the {name}?", "Is the {name} large or small?"),
    "count": ("How many shapes are there{when}?", "How many shapes can you see{when}?", "Count the shapes{when}."),
    "motion": ("Which way does the {name} move?", "In which direction does the {name} move?", "Where does the {name} go?"),
    "event": ("What happens at the end?", "What happens at the end of the video?", "What changes at the end?"),
    "when": ("When does the {name} {verb}?", "At what time does the {name} {verb}?", "At which second does the {name} {verb}?"),
    "dot_colour": ("What colour is the dot in the {corner} corner?", "Which colour is the dot in the {corner} corner?"),
    "dot_corner": ("Where is the {colour} dot?", "In which corner is the {colour} dot?"),
    "dot_count": ("How many dots are there?", "How many tiny dots can you see?"),
    "dot_presence": ("Is there a {colour} dot?", "Do you see a {colour} dot?"),
    "describe": ("Describe the video.", "What happens in this video?", "Describe what you see in the video."),
    "chapters": (
        "Split the video into chapters with their times and titles.",
        "Break this video into chapters.",
        "List the chapters of this video with their times.",
    ),
}  # fmt: skip
# How the world's own answers say them: a sentence that names what was asked about before the
# attribute ("The ring is red."), so the word that names the object stands right before the word
# the answer turns on. Kinds without one answer with the bare word.
STATEMENTS: dict[str, str] = {
    "colour": "The {shape} is {answer}{when}.",
    "shape": "It is a {colour} {answer}.",
    "size": "The {name} is {answer}.",
    "motion": "The {name} goes {answer}.",
}
TASK_OF_KIND: dict[str, str] = {k: ("detail" if k.startswith("dot_") else k) for k in TEMPLATES}
TASKS: tuple[str, ...] = tuple(dict.fromkeys(TASK_OF_KIND.values()))
#: The object questions (what the demo model's accuracy bar is set on, and what 1-token pooling loses).
OBJECT_TASKS: tuple[str, ...] = ("colour", "shape", "count", "motion")
WHEN_SUFFIXES: tuple[str, ...] = ("", " at the start", " at the end")
MOTION_ANSWER: dict[str, str] = {m: ("nowhere" if m == "still" else m) for m in MOTIONS}
YES_NO: tuple[str, ...] = ("yes", "no")

MULTIPLE_CHOICE_INSTRUCTION = "Answer with the option's letter from the given choices directly."
LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class QA:
    """One question with its open answer. `alternatives` are wrong answers of the same kind, for
    multiple choice (empty: open only). `subject` is the (colour, shape) asked about, if any.
    `statement` is the answer as a sentence that names the subject (empty: the bare answer)."""

    task: str
    kind: str
    question: str
    answer: str
    alternatives: tuple[str, ...] = ()
    subject: tuple[str, str] | None = None
    statement: str = ""

    @property
    def reply(self) -> str:
        """What a model taught on the world answers: the statement, else the bare answer."""
        return self.statement or self.answer


def multiple_choice_prompt(question: str, options: list[str] | tuple[str, ...]) -> str:
    """The question with lettered options, one per line, and the instruction to answer with a
    letter: the LLaVA-OneVision / lmms-eval convention, shared by training data and eval."""
    return "\n".join([question, *(f"{LETTERS[i]}. {o}" for i, o in enumerate(options)), MULTIPLE_CHOICE_INSTRUCTION])


def make_choices(qa: QA, rng: np.random.Generator, k: int = 4) -> tuple[list[str], str]:
    """Up to `k` options (the answer and k-1 alternatives, shuffled) and the answer's letter."""
    if not qa.alternatives:
        raise ValueError(f"a {qa.kind!r} question has no alternatives for multiple choice")
    wrong = [qa.alternatives[i] for i in rng.permutation(len(qa.alternatives))[: k - 1]]
    options = [qa.answer, *wrong]
    options = [options[i] for i in rng.permutation(len(options))]
    return options, LETTERS[options.index(qa.answer)]


def _ask(
    rng: np.random.Generator,
    kind: str,
    answer: str,
    alternatives: Iterable[str] = (),
    subject: tuple[str, str] | None = None,
    **fields: str,
) -> QA:
    templates = TEMPLATES[kind]
    question = templates[int(rng.integers(0, len(templates)))].format(**fields)
    alts = tuple(a for a in dict.fromkeys(alternatives) if a != answer)
    statement = STATEMENTS[kind].format(answer=answer, **fields) if kind in STATEMENTS else ""
    return QA(TASK_OF_KIND[kind], kind, question, answer, alts, subject, statement)


def _others(pool: Iterable[str], answer: str) -> tuple[str, ...]:
    return tuple(p for p in pool if p != answer)


def _event_alternatives(scene: Scene, rng: np.random.Generator) -> list[str]:
    """Plausible wrong answers to "what happens at the end": other objects vanishing or changing,
    an object that is not there appearing, or nothing."""
    used_colours = {th.colour for th in scene.things} | {scene.event.new_colour if scene.event else None}
    used_shapes = {th.shape for th in scene.objects}
    free_colours = [c for c in COLOURS if c not in used_colours]
    free_shapes = [s for s in SHAPES if s not in used_shapes]
    out = ["nothing changes"]
    for th in scene.objects:
        out.append(f"the {th.colour} {th.shape} disappears")
        for colour in free_colours[:2]:
            out.append(f"the {th.shape} turns {colour}")
    for colour, shape in zip(free_colours, free_shapes):
        out.append(f"a {SIZES[int(rng.integers(0, 2))]} {colour} {shape} appears")
    return out


def scene_questions(scene: Scene, config: WorldConfig, rng: np.random.Generator) -> list[QA]:
    """Every question the world asks about one scene (the scene of a single-scene clip)."""
    qas: list[QA] = []
    ev = scene.event
    colours, shapes, motions = list(COLOURS), list(SHAPES), list(MOTION_ANSWER.values())
    for i, th in enumerate(scene.things):
        if th.is_dot:
            continue
        label, pair = name(scene, i), (th.colour, th.shape)
        if ev is not None and ev.kind == "change" and ev.target == i:
            end = str(ev.new_colour)
            qas.append(_ask(rng, "colour", th.colour, _others(colours, th.colour), pair, shape=th.shape, when=" at the start"))
            qas.append(_ask(rng, "colour", end, _others(colours, end), (end, th.shape), shape=th.shape, when=" at the end"))
        else:
            qas.append(_ask(rng, "colour", th.colour, _others(colours, th.colour), pair, shape=th.shape, when=""))
            qas.append(_ask(rng, "shape", th.shape, _others(shapes, th.shape), pair, colour=th.colour))
        qas.append(_ask(rng, "size", th.size, _others(SIZES, th.size), pair, name=label))
        answer = MOTION_ANSWER[th.motion]
        qas.append(_ask(rng, "motion", answer, _others(motions, answer), pair, name=label))

    counts = [number_word(n) for n in range(config.max_objects + 1)]  # "zero": the only object vanished
    if ev is not None and ev.kind in ("appear", "disappear"):
        for suffix, t in ((" at the start", 0.0), (" at the end", scene.duration)):
            n = number_word(scene.count(t))
            qas.append(_ask(rng, "count", n, _others(counts, n), when=suffix))
    else:
        n = number_word(scene.count(0.0))
        qas.append(_ask(rng, "count", n, _others(counts, n), when=""))

    qas.append(_ask(rng, "event", event_phrase(scene), _event_alternatives(scene, rng)))
    if ev is not None:
        verb = f"turn {ev.new_colour}" if ev.kind == "change" else ev.kind
        times = [format_time(t) for t in config.event_times(scene.duration)]
        target = scene.things[ev.target]
        qas.append(
            _ask(rng, "when", format_time(ev.time), times, (target.colour, target.shape), name=name(scene, ev.target), verb=verb)
        )

    dots = scene.dots
    dot_colours = {d.colour for d in dots}
    for d in dots:
        corner = dot_corner(d)
        qas.append(_ask(rng, "dot_colour", d.colour, _others(colours, d.colour), corner=corner))
        qas.append(_ask(rng, "dot_corner", corner, _others(CORNERS, corner), colour=d.colour))
    n_dots = number_word(len(dots))
    qas.append(_ask(rng, "dot_count", n_dots, _others([number_word(n) for n in range(4)], n_dots)))
    absent = [c for c in colours if c not in dot_colours]
    if dots:
        qas.append(_ask(rng, "dot_presence", "yes", ("no",), colour=dots[int(rng.integers(0, len(dots)))].colour))
    qas.append(_ask(rng, "dot_presence", "no", ("yes",), colour=absent[int(rng.integers(0, len(absent)))]))
    return qas


def clip_questions(clip: Clip, config: WorldConfig, rng: np.random.Generator) -> list[QA]:
    """All questions about a clip: a single-scene clip gets every scene question and "describe";
    a multi-scene clip gets "describe" and "chapters"."""
    describe = _ask(rng, "describe", caption(clip))
    if len(clip.scenes) == 1:
        return [*scene_questions(clip.scenes[0], config, rng), describe]
    return [describe, _ask(rng, "chapters", format_chapters(clip))]
