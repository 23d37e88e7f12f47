"""Scoring answers: the option letter of a multiple-choice reply, and open answers after normalising.

Multiple choice follows the Video-MME / MVBench convention: lettered options, the prompt asks for
the letter, and the reply counts when it names the right one. Models say it many ways ("B",
"(B)", "B. a red ball", "The answer is B", "b"); a reply that names two different letters, or
none, is ambiguous and scores as wrong rather than as a guess.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

LETTERS = "ABCDEFGHIJ"
#: The lmms-eval / LLaVA-OneVision instruction for multiple choice (also what synthetic data uses).
MULTIPLE_CHOICE_INSTRUCTION = "Answer with the option's letter from the given choices directly."
MATCH_MODES = ("exact", "contains")

_WHOLE = re.compile(r"^\W*\(?([A-Ja-j])\)?\W*$")  # "B", "(b)", "B.", "**B**"
_LEADING = re.compile(r"^\W*\(?([A-J])\s*[).:](?:\s|$)")  # "B. text", "(B) text", "B: text"
# "the answer is B", "Answer: (c)", "option d." -- a lowercase letter only in brackets or at the end
# of a sentence, so "the answer is a red ball" is not option A.
_PHRASE = re.compile(
    r"\b(?i:answer|option|choice)(?:\s+(?i:is|would\s+be|should\s+be))?\s*[:\-]?\s*"
    r"(?:\(([A-Ja-j])\)|([A-J])|([a-j])(?=\s*(?:[.!,;]|$)))(?![\w'])"
)
# A capital letter standing alone at the end of a sentence or in brackets ("I think it is D", "(C)
# fits"); never the article in "A red ball".
_STANDALONE = re.compile(r"(?<![\w'])(?:\(([A-J])\)|([A-J])(?=\s*(?:[.!,;]|$)))")
_MENTION = re.compile(r"(?<![\w'])([A-J])(?![\w'])")  # any capital letter standing as a word
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def multiple_choice_prompt(question: str, options: Sequence[str]) -> str:
    """The question, one lettered option per line, then the instruction to answer with a letter."""
    if not 2 <= len(options) <= len(LETTERS):
        raise ValueError(f"multiple choice needs 2 to {len(LETTERS)} options, got {len(options)}")
    return "\n".join([question, *(f"{LETTERS[i]}. {option}" for i, option in enumerate(options)),
                      MULTIPLE_CHOICE_INSTRUCTION])


def parse_choice(reply: str, options: Sequence[str]) -> str | None:
    """The letter a reply picks among `options` (lettered A, B, ...), or None if none or ambiguous."""
    valid = LETTERS[: len(options)]
    text = reply.strip()
    if not text:
        return None
    for pattern in (_WHOLE, _LEADING):
        match = pattern.match(text)
        if match:
            letter = match.group(1).upper()
            return letter if letter in valid else None
    phrases = {next(g for g in m.groups() if g).upper() for m in _PHRASE.finditer(text)}
    if phrases:
        return phrases.pop() if len(phrases) == 1 and phrases <= set(valid) else None
    # The reply repeats an option's text ("a red ball") instead of its letter.
    normalised = normalise_answer(text)
    matching = [LETTERS[i] for i, option in enumerate(options) if normalise_answer(option) == normalised]
    if len(matching) == 1:
        return matching[0]
    standalone = {next(g for g in m.groups() if g) for m in _STANDALONE.finditer(text)}
    mentioned = {m.group(1) for m in _MENTION.finditer(text)} - {"I"}  # "I think" names no option
    if len(standalone) == 1 and standalone <= set(valid) and mentioned <= standalone:
        return standalone.pop()
    return _option_named(normalised, options)


def _option_named(normalised_reply: str, options: Sequence[str]) -> str | None:
    """The one option whose text the reply says in a sentence ("The ring is red." names "red"):
    MMMU's rule for replies without a letter. An option inside a longer named one ("left" in
    "bottom left") does not count apart; two different options named is ambiguous."""
    padded = f" {normalised_reply} "
    named = {i: normalise_answer(option) for i, option in enumerate(options)}
    named = {i: text for i, text in named.items() if text and f" {text} " in padded}
    named = {i: text for i, text in named.items()
             if not any(other != text and f" {text} " in f" {other} " for other in named.values())}
    return LETTERS[next(iter(named))] if len(named) == 1 else None


def normalise_answer(text: str) -> str:
    """Lowercase, punctuation and articles dropped, spaces collapsed (SQuAD's normalisation)."""
    text = text.lower()
    text = "".join(" " if char in string.punctuation else char for char in text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def open_answer_correct(reply: str, answer: str, match: str = "exact") -> bool:
    """`exact`: equal after normalising; `contains`: the answer's words appear together in the reply."""
    if match not in MATCH_MODES:
        raise ValueError(f"match must be one of {MATCH_MODES}, got {match!r}")
    got, want = normalise_answer(reply), normalise_answer(answer)
    if match == "exact":
        return got == want
    return bool(want) and f" {want} " in f" {got} "
