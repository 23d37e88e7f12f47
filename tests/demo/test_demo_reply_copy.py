"""research.reply_copy: which open replies name the question's object, and which of them are right."""

from __future__ import annotations

from research.reply_copy import reply_copies


def test_replies_are_counted_by_whether_they_repeat_the_questions_naming_word():
    rows = [
        {"task": "shape", "question": "Which shape is cyan?", "prediction": "It is a cyan ring.", "correct": True},
        {"task": "shape", "question": "What shape is the cyan object?", "prediction": "It is a red star.", "correct": False},
        {"task": "shape", "question": "Which shape is cyan?", "prediction": "It is a red ring.", "correct": True},
        {"task": "colour", "question": "What colour is the ring at the end?", "prediction": "The ring is red.", "correct": False},
        {"task": "motion", "question": "Where does the red ring go?", "prediction": "The red star goes left.", "correct": False},
        {"task": "count", "question": "How many shapes are there?", "prediction": "two", "correct": True},  # names nothing
    ]
    assert reply_copies(rows) == {
        "shape": {"questions": 3, "copied": 1, "copied_right": 1, "other_right": 1},
        "colour": {"questions": 1, "copied": 1, "copied_right": 0, "other_right": 0},
        "motion": {"questions": 1, "copied": 0, "copied_right": 0, "other_right": 0},
    }
