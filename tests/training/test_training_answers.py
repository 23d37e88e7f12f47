"""Answer-letter parsing, open-answer matching, and accuracy on a fixture of predictions."""

from __future__ import annotations

import json

import pytest

from crosslmm_cli.training.answers import multiple_choice_prompt, normalise_answer, open_answer_correct, parse_choice
from crosslmm_cli.training.errors import DataFileError
from crosslmm_cli.training.evaluate import read_eval_items, score, summarise

OPTIONS = ["red", "green ball", "blue", "yellow"]


@pytest.mark.parametrize(
    ("reply", "letter"),
    [
        ("B", "B"), ("(B)", "B"), ("B.", "B"), ("B. green ball", "B"), ("B) green ball", "B"), ("b", "B"),
        ("(b)", "B"), ("**C**", "C"), ("The answer is B", "B"), ("The answer is (D).", "D"), ("Answer: C", "C"),
        ("the correct option is c.", "C"), ("I think it is D", "D"), ("green ball", "B"), ("The Green Ball!", "B"),
        ("  A\n", "A"), ("(C) is right", "C"),
        # no letter: the one option the sentence says (MMMU's rule)
        ("The ball is blue.", "C"), ("It is a green ball, I think", "B"), ("The answer is a red one", "A"),
    ],
)
def test_usual_forms_of_a_letter(reply, letter):
    assert parse_choice(reply, OPTIONS) == letter


@pytest.mark.parametrize(
    "reply",
    ["", "A or B", "It is either A or C", "E", "(E)", "The answer is a purple one", "I don't know", "red or blue",
     "It is red, not yellow", "a reddish ball",
     "Option E", "A small ball", "I see it"],
)
def test_ambiguous_or_invalid_replies_pick_nothing(reply):
    assert parse_choice(reply, OPTIONS) is None


def test_open_answers():
    assert normalise_answer("The  Red, ball!") == "red ball"
    assert open_answer_correct("The red ball.", "red ball")
    assert not open_answer_correct("a big red ball", "red ball")
    assert open_answer_correct("a big red ball", "red ball", "contains")
    assert not open_answer_correct("a reddish ball", "red", "contains")  # whole words only
    with pytest.raises(ValueError):
        open_answer_correct("x", "x", "fuzzy")


def test_prompt_lists_lettered_options_and_asks_for_the_letter():
    assert multiple_choice_prompt("Which?", ["x", "y"]) == (
        "Which?\nA. x\nB. y\nAnswer with the option's letter from the given choices directly.")


def test_accuracy_per_task_on_a_fixture(tmp_path):
    items = [
        {"id": "1", "video": "a.mp4", "task": "colour", "question": "Colour?", "options": OPTIONS, "answer": "B"},
        {"id": "2", "video": "a.mp4", "task": "colour", "question": "Colour?", "options": OPTIONS, "answer": "a"},
        {"id": "3", "video": "b.mp4", "task": "count", "question": "How many?", "options": ["1", "2", "3"], "answer": "C"},
        {"id": "4", "video": "b.mp4", "task": "count", "question": "How many?", "answer": "two", "match": "exact"},
        {"id": "5", "video": "b.mp4", "task": "motion", "question": "Where?", "answer": "left", "match": "contains"},
        {"id": "6", "video": "b.mp4", "task": "motion", "question": "Where?", "answer": "B"},  # open, no options
    ]
    (tmp_path / "eval.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items) + '{"video": 3}\n')
    parsed, problems = read_eval_items(tmp_path / "eval.jsonl")
    assert problems == ["eval.jsonl:7: 'video' must be a non-empty string"]
    assert parsed[1].answer == "A" and parsed[0].video == (tmp_path / "a.mp4").resolve()
    assert parsed[0].prompt.endswith("D. yellow\nAnswer with the option's letter from the given choices directly.")
    replies = ["The answer is B.", "B", "(C) 3", "Two", "it moves to the left", "b"]
    predictions = [score(item, reply) for item, reply in zip(parsed, replies)]
    assert [p.correct for p in predictions] == [True, False, True, True, True, True]
    assert [p.choice for p in predictions] == ["B", "B", "C", None, None, None]
    summary = summarise(predictions).to_json()
    assert summary == {
        "accuracy": round(5 / 6, 6), "n": 6, "correct": 5, "failed": 0,
        "tasks": {"colour": {"accuracy": 0.5, "n": 2, "correct": 1}, "count": {"accuracy": 1.0, "n": 2, "correct": 2},
                  "motion": {"accuracy": 1.0, "n": 2, "correct": 2}},
    }
    record = predictions[0].to_record()
    assert record["parsed"] == "B" and record["correct"] is True and record["prediction"] == "The answer is B."


@pytest.mark.parametrize(
    ("item", "message"),
    [({"video": "a.mp4", "question": "q", "answer": "E", "options": ["x", "y"]}, "not one of the option letters AB"),
     ({"video": "a.mp4", "question": "q", "answer": "x", "match": "fuzzy"}, "'match' must be one of"),
     ({"video": "a.mp4", "question": "q", "answer": "A", "options": ["only"]}, "'options' must be a list of 2 to")],
)
def test_bad_eval_items_are_named(tmp_path, item, message):
    (tmp_path / "eval.jsonl").write_text(json.dumps(item) + "\n")
    with pytest.raises(DataFileError, match=message):
        read_eval_items(tmp_path / "eval.jsonl")
