"""The shipped demo model: right answers on held-out synthetic clips, the same in 4-bit, chapters.

The accuracy bar comes from the model card's own measurement (models/demo/eval.json, written by
`models/demo/build.py --install`), so the card and the test cannot drift apart.
"""

from __future__ import annotations

import json

import pytest
from demo_fixtures import BAR_TASKS, DEMO_DIR, EXAMPLES, FRAMES, card_claims, truth


#: Allowed shortfall against the card's score on the same questions (the first N_CLIPS clips of its
#: bar split, about 16 questions per type, one question ~6 points): other ffmpeg or torch builds
#: may flip a borderline answer or two.
MARGIN = 0.13


def answers(model, processor, items, max_new_tokens: int = 4):
    from crosslmm_cli.training.evaluate import run_eval
    from crosslmm_cli.engine.options import FrameOptions as FrameSampling
    from crosslmm_cli.training.frame_cache import FrameLoader

    loader = FrameLoader(processor.image_processor, FrameSampling(num_frames=FRAMES))
    return list(run_eval(model, processor, items, loader, batch_size=16, max_new_tokens=max_new_tokens))


def test_the_shipped_files_are_a_small_safetensors_checkpoint():
    files = {p.name: p.stat().st_size for p in DEMO_DIR.iterdir() if p.is_file()}
    assert "model.safetensors" in files and "config.json" in files and "tokenizer.json" in files
    assert not [name for name in files if name.endswith((".bin", ".pt", ".pth", ".pkl"))]
    total = sum(p.stat().st_size for p in DEMO_DIR.rglob("*") if p.is_file())
    assert total <= 25 * 2**20, f"models/demo is {total / 2**20:.1f} MB, over the 25 MB budget"


def multiple_choice(held_out, tasks):
    return [item for item in held_out if item.options and item.task in tasks]


@pytest.mark.parametrize("task", [*BAR_TASKS, "size"])
def test_demo_answers_held_out_questions_as_accurately_as_its_card_says(demo, held_out, task):
    """Per question type, on the bar split's first clips: what the card measured, within MARGIN."""
    model, processor = demo
    predictions = answers(model, processor, multiple_choice(held_out, (task,)), max_new_tokens=8)
    claimed = card_claims()["first_clips"]["multiple_choice"]["tasks"][task]
    accuracy = sum(p.correct for p in predictions) / len(predictions)
    assert len(predictions) == claimed["n"]
    assert accuracy >= claimed["accuracy"] - MARGIN, f"{task}: {accuracy:.1%} on {len(predictions)}, card {claimed['accuracy']:.1%}"


def test_demo_descriptions_state_the_facts_the_card_says(demo, held_out):
    """`describe`'s facts (research/caption_facts.py) on the same clips: precision and recall as measured."""
    from research.caption_facts import precision_recall

    model, processor = demo
    items = [item for item in held_out if item.task == "describe" and not item.options]  # answer: the true caption
    replies = [p.reply for p in answers(model, processor, items, max_new_tokens=160)]
    measured = precision_recall(zip(replies, (item.answer for item in items)))
    claimed = card_claims()["first_clips"]["open"]["describe"]
    for side in ("precision", "recall"):
        assert measured[side] >= claimed[side] - MARGIN, (side, measured, claimed)


def test_card_states_the_measured_accuracy_per_task():
    card = (DEMO_DIR / "README.md").read_text(encoding="utf-8")
    for kind in ("multiple_choice", "open"):
        for task, score in card_claims()[kind].items():
            assert f"{100 * score['accuracy']:.1f}%" in card, f"{kind} {task} accuracy missing from the card"
    for side in ("precision", "recall"):
        assert f"{100 * card_claims()['describe'][side]:.1f}%" in card, f"describe {side} missing from the card"


def test_4bit_and_fp32_give_the_same_answer_to_most_questions(demo, held_out):
    pytest.importorskip("bitsandbytes")
    from crosslmm_cli.checkpoints.loader import load_model

    try:
        quantized, processor = load_model(DEMO_DIR, quantize="4bit", device="cpu")
    except Exception as error:  # bitsandbytes builds without a CPU 4-bit backend
        pytest.skip(f"bitsandbytes cannot run 4-bit on this CPU: {type(error).__name__}: {error}".splitlines()[0])
    assert type(quantized.model.language_model.layers[0].mlp.up_proj).__name__ == "Linear4bit"
    items = multiple_choice(held_out, BAR_TASKS)[:40]
    full = [p.choice for p in answers(demo[0], demo[1], items)]
    four_bit = [p.choice for p in answers(quantized, processor, items)]
    agreement = sum(a == b for a, b in zip(full, four_bit)) / len(items)
    assert agreement >= 0.8, f"4-bit agrees with fp32 on {agreement:.0%} of {len(items)} questions"


def test_chapterize_finds_the_scene_cuts_of_the_example_clip(tmp_path):
    from typer.testing import CliRunner

    from crosslmm_cli.cli import app

    fps = 2.0  # one sampled frame every 0.5 s: the tolerance below
    out = tmp_path / "chapters.json"
    result = CliRunner().invoke(app, ["chapterize", str(EXAMPLES / "three-scenes.mp4"), "--model", str(DEMO_DIR),
                                      "--fps", str(fps), "--min-length", "2", "--format", "json", "--quiet",
                                      "--output", str(out), "--threads", "1"])
    assert result.exit_code == 0, result.output
    found = json.loads(out.read_text(encoding="utf-8"))["chapters"]
    expected = truth("three-scenes.mp4")["chapters"]
    assert len(found) == len(expected), found
    for got, want in zip(found[1:], expected[1:]):
        assert abs(got["start"] - want["start"]) <= 1 / fps, (found, expected)
