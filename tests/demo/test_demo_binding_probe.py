"""research.binding_probe's linear probe: it finds a linearly coded label, and not one that is absent."""

from __future__ import annotations

import torch

from research.binding_probe import probe_accuracy


def data(n: int, coded: bool, seed: int):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 6, (n,), generator=generator)
    features = torch.randn(n, 32, generator=generator)
    if coded:
        features[:, :6] += 5 * torch.nn.functional.one_hot(labels, 6)
    return features, labels


def test_a_linearly_coded_label_is_read_off_held_out_rows():
    assert probe_accuracy(*data(600, True, 0), *data(300, True, 1)) > 0.95


def test_a_label_the_features_do_not_hold_stays_near_chance():
    assert probe_accuracy(*data(600, False, 0), *data(300, False, 1)) < 0.3  # chance 1/6


def test_a_recall_record_asks_about_one_object_its_caption_binds_to_the_answer():
    """The answer is the attribute the caption gives the named object: the word before the named
    shape, or the shape after the named colour."""
    import re

    from research.recall_task import recall_records

    records = recall_records(300, seed=3)
    kinds = set()
    for record in records:
        context, question = record["conversations"][0]["value"].split("\n")
        answer = record["conversations"][1]["value"]
        objects = re.findall(r"a (small|large) (\w+) (\w+)", context)
        assert 1 <= len(objects) <= 3
        if match := re.fullmatch(r"What colour is the (\w+)\?", question):
            kinds.add("colour")
            assert [colour for _, colour, shape in objects if shape == match[1]] == [answer]
        else:
            colour = re.fullmatch(r"Which shape is (\w+)\?", question)[1]
            kinds.add("shape")
            assert [shape for _, c, shape in objects if c == colour] == [answer]
    assert kinds == {"colour", "shape"}
    assert recall_records(5, seed=3) == records[:5]  # reproducible from the seed


def test_the_probed_position_predicts_the_answer_word_of_a_sentence_reply():
    """In "The ring is red." the probe reads the position whose next token is " red" (bare
    answers: the first token), and a reply's tokens are scored from its first to its last."""
    from crosslmm_cli.modeling.processing import CrossLMMProcessor
    from crosslmm_cli.synthetic.questions import QA
    from crosslmm_cli.training.tokenization import encode_conversation
    from research.answer_grounding import answer_ends, answer_starts
    from research.binding_probe import words_before_answer

    from demo_fixtures import DEMO_DIR

    processor = CrossLMMProcessor.from_pretrained(DEMO_DIR)
    sentence = QA("colour", "colour", "What colour is the ring?", "red", ("blue",), ("red", "ring"), "The ring is red.")
    bare = QA("count", "count", "How many shapes are there?", "two")
    for qa, word in ((sentence, " red"), (bare, "two")):
        encoded = encode_conversation(processor, [(qa.question, qa.reply)], timestamps=None, duration=0.0)
        start, end = answer_starts(encoded.labels)[0], answer_ends(encoded.labels)[0]
        position = start - 1 + words_before_answer(processor, qa)
        predicted = processor.tokenizer.decode([encoded.labels[position + 1]])
        assert predicted.strip() and word.startswith(predicted), (predicted, word)  # the word's first token
        assert processor.tokenizer.decode(encoded.labels[start:end]).startswith(qa.reply)


def test_answer_probes_find_the_layer_after_which_each_type_of_answer_is_coded():
    """Motion answers coded only after the second layer, colour answers after both: the probe says so per layer."""
    from research.binding_probe import answer_probes

    def measures(n: int, seed: int) -> dict:
        generator = torch.Generator().manual_seed(seed)
        tasks = ["colour" if i % 2 else "motion" for i in range(n)]
        vocabulary = {"colour": ["red", "blue", "green"], "motion": ["left", "right", "up", "down"]}
        labels = torch.randint(0, 3, (n,), generator=generator)
        answers = [vocabulary[t][int(k)] for t, k in zip(tasks, labels)]
        states = torch.randn(n, 2, 16, generator=generator)  # (question, layer, width)
        for i, task in enumerate(tasks):
            states[i, 1, int(labels[i])] += 5
            if task == "colour":
                states[i, 0, int(labels[i])] += 5
        return {"states": states, "tasks": tasks, "answers": answers}

    report = answer_probes(measures(600, 0), measures(300, 1))
    assert set(report) == {"colour", "motion"}
    assert report["colour"][0] > 0.95 and report["colour"][1] > 0.95
    assert report["motion"][0] < 0.5 < 0.95 < report["motion"][1]  # chance 1/3 (three of four answers drawn)
