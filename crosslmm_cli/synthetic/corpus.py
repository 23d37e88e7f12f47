"""Every piece of text the world can produce, for training the demo model's tokenizer.

Questions come as every template filled with every value; answers, captions and chapter lines
come as their building blocks (a full caption is a sequence of these blocks), so the word set of
this corpus covers everything a dataset of any seed can contain.
"""

from __future__ import annotations

import itertools
import string

from crosslmm_cli.synthetic.captions import CONNECTIVES, format_time, motion_phrase, number_word
from crosslmm_cli.synthetic.questions import (
    LETTERS,
    MOTION_ANSWER,
    MULTIPLE_CHOICE_INSTRUCTION,
    STATEMENTS,
    TEMPLATES,
    WHEN_SUFFIXES,
    YES_NO,
)
from crosslmm_cli.synthetic.world import BACKGROUNDS, COLOURS, CORNERS, NUMBER_WORDS, SHAPES, SIZES, WorldConfig


def _field_values() -> dict[str, list[str]]:
    pairs = [f"{c} {s}" for c in COLOURS for s in SHAPES]
    return {
        "shape": list(SHAPES),
        "colour": list(COLOURS),
        "when": list(WHEN_SUFFIXES),
        "name": pairs + list(SHAPES),  # a shape alone names an object that changes colour
        "verb": ["appear", "disappear", *(f"turn {c}" for c in COLOURS)],
        "corner": list(CORNERS),
    }


def _filled(template: str, values: dict[str, list[str]]) -> list[str]:
    names = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    return [template.format(**dict(zip(names, combo))) for combo in itertools.product(*(values[n] for n in names))]


def question_texts() -> list[str]:
    """Every question any template can ask."""
    values = _field_values()
    return [text for templates in TEMPLATES.values() for template in templates for text in _filled(template, values)]


def statement_texts() -> list[str]:
    """Every sentence answer (`questions.STATEMENTS`), with every answer of its kind."""
    values = _field_values()
    answers = {"colour": list(COLOURS), "shape": list(SHAPES), "size": list(SIZES), "motion": list(MOTION_ANSWER.values())}
    return [text for kind, template in STATEMENTS.items() for text in _filled(template, {**values, "answer": answers[kind]})]


def _times(config: WorldConfig) -> list[float]:
    longest = config.max_chapter_scenes * max(config.chapter_scene_durations + (config.scene_duration,))
    return [k * config.time_step for k in range(round(longest / config.time_step) + 1)]


def answer_and_caption_texts(config: WorldConfig) -> list[str]:
    """Answers, caption sentences and chapter lines, as the pieces they are assembled from."""
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    times = _times(config)
    out = [*COLOURS, *SHAPES, *SIZES, *MOTION_ANSWER.values(), *NUMBER_WORDS, *CORNERS, *YES_NO]
    out += [format_time(t) for t in times]
    out += ["nothing changes"]
    out += [f"a {size} {c} {s} appears" for size in SIZES for c, s in pairs]
    out += [f"the {c} {s} disappears" for c, s in pairs]
    out += [f"the {s} turns {c}" for s in SHAPES for c in COLOURS]
    out += [f"On a {bg} background, on a {bg} background," for bg in BACKGROUNDS]
    out += [f"a {size} {c} {s} {motion_phrase(m)}" for size in SIZES for c, s in pairs for m in MOTION_ANSWER]
    out += [f"A tiny {c} dot is in the {corner} corner and a tiny {c} dot." for c in COLOURS for corner in CORNERS]
    out += [f"At {format_time(t)}, " for t in times]
    out += [f"The video has {number_word(n)} scenes." for n in CONNECTIVES]
    out += [", ".join(words) + "," for words in CONNECTIVES.values()]
    out += [f"{c} {s}, {c} {s} and {c} {s} on {bg}" for c, s in pairs for bg in BACKGROUNDS]
    out += [f"{t:.1f} - {format_time(t)}: " for t in times]
    out += [f"{LETTERS[i]}. " for i in range(4)] + [MULTIPLE_CHOICE_INSTRUCTION]
    return out


def text_corpus(config: WorldConfig | None = None) -> list[str]:
    """All text the world produces (deterministic order): train a tokenizer on this."""
    return question_texts() + statement_texts() + answer_and_caption_texts(config or WorldConfig())
