"""Every generated answer agrees with an independent reading of the clip spec, multiple choice
keeps the answer behind its letter, and captions follow the fixed grammar."""

from __future__ import annotations

import re

import numpy as np
import pytest

from crosslmm_cli.synthetic import Clip, WorldConfig, caption, clip_questions, format_chapters, generate_clip
from crosslmm_cli.synthetic import make_choices, multiple_choice_prompt
from crosslmm_cli.synthetic.scene import Event, Scene, Thing

WORDS = ["zero", "one", "two", "three", "four", "five"]


def _find(scene: Scene, label: str) -> tuple[int, Thing]:
    """The object a question names: "red circle", or "circle" alone for a recoloured one."""
    found = [(i, t) for i, t in enumerate(scene.objects) if label in (f"{t.colour} {t.shape}", t.shape)]
    assert len(found) == 1, (label, scene)
    return found[0]


def _corner(t: Thing) -> str:
    return f"{'bottom' if t.y > 0.5 else 'top'} {'right' if t.x > 0.5 else 'left'}"


def oracle(scene: Scene, question: str) -> str | None:
    """The answer read straight from the spec's fields (not through Scene's helpers)."""
    ev = scene.event
    if m := re.fullmatch(r"(?:What colour is the|Which colour is the|What is the colour of the) (\w+)(?: at the (start|end))?\?", question):
        i, thing = _find(scene, m[1])
        changed = ev is not None and ev.kind == "change" and ev.target == i
        assert changed == (m[2] is not None)  # a recoloured object is always asked at a time
        return ev.new_colour if changed and m[2] == "end" else thing.colour
    if m := re.fullmatch(r"(?:What shape is the|Which shape is|What kind of shape is the) (\w+)(?: object)?\?", question):
        return next(t.shape for t in scene.objects if t.colour == m[1])
    if m := re.fullmatch(r"(?:How big is the|What size is the|Is the) (.+?)(?: large or small)?\?", question):
        return _find(scene, m[1])[1].size
    if m := re.fullmatch(r"(?:Which way does the|In which direction does the|Where does the) (.+) (?:move|go)\?", question):
        motion = _find(scene, m[1])[1].motion
        return "nowhere" if motion == "still" else motion
    if m := re.fullmatch(r"(?:How many shapes are there|How many shapes can you see|Count the shapes)(?: at the (start|end))?[?.]", question):
        hidden = {ev.target} if ev is not None and (ev.kind, m[1]) in (("appear", "start"), ("disappear", "end")) else set()
        return WORDS[len(scene.objects) - len(hidden)]
    if m := re.fullmatch(r"(?:When does the|At what time does the|At which second does the) (.+) (appear|disappear|turn (\w+))\?", question):
        i, _ = _find(scene, m[1])
        assert ev.target == i and (ev.new_colour == m[3] if m[3] else ev.kind == m[2])
        return f"{ev.time:.1f} seconds"
    if question in ("What happens at the end?", "What happens at the end of the video?", "What changes at the end?"):
        if ev is None:
            return "nothing changes"
        t = scene.things[ev.target]
        return {
            "appear": f"a {t.size} {t.colour} {t.shape} appears",
            "disappear": f"the {t.colour} {t.shape} disappears",
            "change": f"the {t.shape} turns {ev.new_colour}",
        }[ev.kind]
    if m := re.fullmatch(r"(?:What|Which) colour is the dot in the (.+) corner\?", question):
        return next(d.colour for d in scene.dots if _corner(d) == m[1])
    if m := re.fullmatch(r"(?:Where is the|In which corner is the) (\w+) dot\?", question):
        return next(_corner(d) for d in scene.dots if d.colour == m[1])
    if question in ("How many dots are there?", "How many tiny dots can you see?"):
        return WORDS[len(scene.dots)]
    if m := re.fullmatch(r"(?:Is there a|Do you see a) (\w+) dot\?", question):
        return "yes" if any(d.colour == m[1] for d in scene.dots) else "no"
    return None


@pytest.fixture(scope="module")
def clips(config: WorldConfig) -> list[Clip]:
    return [generate_clip(9, split, i, config) for split in ("train", "eval") for i in range(150)]


def test_every_answer_matches_an_independent_reading_of_the_spec(clips: list[Clip], config: WorldConfig) -> None:
    asked = set()
    for clip in clips:
        for qa in clip_questions(clip, config, np.random.default_rng(0)):
            if qa.task in ("describe", "chapters"):
                continue
            expected = oracle(clip.scenes[0], qa.question)
            assert expected is not None, f"the oracle cannot read {qa.question!r}"
            assert qa.answer == expected, (clip.id, qa)
            assert qa.answer not in qa.alternatives and len(set(qa.alternatives)) == len(qa.alternatives)
            asked.add(qa.kind)
    assert asked == {"colour", "shape", "size", "count", "motion", "event", "when"} | {
        "dot_colour", "dot_corner", "dot_count", "dot_presence"
    }  # fmt: skip


def test_multiple_choice_puts_the_answer_behind_its_letter(clips: list[Clip], config: WorldConfig) -> None:
    rng = np.random.default_rng(1)
    letters_used = set()
    for clip in clips[:60]:
        for qa in clip_questions(clip, config, rng):
            if not qa.alternatives:
                continue
            options, letter = make_choices(qa, rng)
            assert len(options) == min(4, 1 + len(qa.alternatives)) and len(set(options)) == len(options)
            assert options["ABCD".index(letter)] == qa.answer
            letters_used.add(letter)
    assert letters_used == set("ABCD")  # the answer's position is shuffled


def test_multiple_choice_prompt_lists_lettered_options() -> None:
    assert multiple_choice_prompt("What colour is the ring?", ["red", "blue"]) == (
        "What colour is the ring?\nA. red\nB. blue\nAnswer with the option's letter from the given choices directly."
    )


def _scene(**kw) -> Scene:
    things = (
        Thing("circle", "red", "large", 0.3, 0.5, "left", 0.08),
        Thing("square", "blue", "small", 0.7, 0.5),
        Thing("dot", "yellow", "tiny", 0.0625, 0.9375),
    )
    return Scene(kw.get("background", "black"), kw.get("things", things), kw.get("duration", 4.0), kw.get("event"))


def test_caption_follows_the_grammar() -> None:
    scene = _scene(event=Event("change", 1, 2.5, "green"))
    assert caption(Clip("c", (scene,))) == (
        "On a black background, a large red circle moves left and a small blue square stays still. "
        "A tiny yellow dot is in the bottom left corner. At 2.5 seconds, the square turns green."
    )
    appearing = _scene(event=Event("appear", 0, 3.0))
    assert caption(Clip("c", (appearing,))) == (
        "On a black background, a small blue square stays still. A tiny yellow dot is in the bottom left corner. "
        "At 3.0 seconds, a large red circle appears."
    )


def test_multi_scene_caption_and_chapters() -> None:
    first = _scene(things=_scene().things[:2], duration=3.5)
    second = Scene("white", (Thing("ring", "cyan", "small", 0.5, 0.5, "up", 0.08),), 3.0)
    clip = Clip("c", (first, second))
    assert caption(clip) == (
        "The video has two scenes. First, on a black background, a large red circle moves left and a small blue "
        "square stays still. Then, on a white background, a small cyan ring moves up."
    )
    assert format_chapters(clip) == "0.0 - 3.5 seconds: red circle and blue square on black\n3.5 - 6.5 seconds: cyan ring on white"


def test_sentence_answers_name_the_subject_then_say_the_answer(clips: list[Clip], config: WorldConfig) -> None:
    """The world's answers to object questions are sentences: the object named, then the answer
    ("The ring is red."), so an open answer scores by `contains` and a multiple-choice one by the
    option its sentence says."""
    from crosslmm_cli.training.answers import open_answer_correct, parse_choice

    rng, stated = np.random.default_rng(2), set()
    for clip in clips[:80]:
        scene = clip.scenes[0]
        for qa in clip_questions(clip, config, rng):
            if not qa.statement:
                assert qa.reply == qa.answer
                continue
            stated.add(qa.kind)
            assert qa.reply == qa.statement and qa.reply.endswith(".")
            assert open_answer_correct(qa.reply, qa.answer, "contains")
            assert not any(open_answer_correct(qa.reply, wrong, "contains") for wrong in qa.alternatives), qa
            subject = {"colour": qa.subject[1] if qa.kind == "colour" else None, "shape": qa.subject[0]}.get(qa.kind)
            named = re.search(r"(?:the|does the|is the) (.+?)(?: move| go| at the (?:start|end)| object| large or small)?\?$",
                              qa.question)[1] if qa.kind in ("size", "motion") else subject
            assert f" {named} " in f" {qa.reply} ", (qa.question, qa.reply)
            options, letter = make_choices(qa, rng)
            assert parse_choice(qa.reply, options) == letter, (options, qa.reply)
            assert oracle(scene, qa.question) == qa.answer
    assert stated == {"colour", "shape", "size", "motion"}
