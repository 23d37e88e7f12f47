"""The shipped demo model: right answers on held-out synthetic clips, the same in 4-bit, chapters.

The accuracy bar comes from the model card's own measurement (models/demo/eval.json, written by
`models/demo/build.py --install`), so the card and the test cannot drift apart.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from demo_fixtures import BAR_TASKS, DEMO_DIR, EXAMPLES, FRAMES, bar_accuracy, card_claims, truth


#: Allowed shortfall against the card's score on the same questions (the first N_CLIPS clips of its
#: eval set, about 60 bar questions, one question ~1.7 points): other ffmpeg or torch builds may
#: flip a borderline answer or two.
MARGIN = 0.08


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


def test_demo_answers_held_out_questions_as_accurately_as_its_card_says(demo, held_out):
    model, processor = demo
    predictions = answers(model, processor, [item for item in held_out if item.task in BAR_TASKS])
    accuracy, n = bar_accuracy(predictions)
    claimed = card_claims()["eval"]["first_clips"]["bar_accuracy"]
    assert n == card_claims()["eval"]["first_clips"]["bar_n"]
    assert accuracy >= claimed - MARGIN, f"{accuracy:.1%} on {n} held-out questions, card claims {claimed:.1%}"


def test_demo_descriptions_name_the_background_it_sees(demo, held_out):
    """What the shipped model did learn from pixels: the background, first clause of every caption."""
    from research.describe_quality import background

    model, processor = demo
    items = [item for item in held_out if item.task == "describe"]  # answer: the true caption
    # "On a gray background, ..." or "The video has two scenes. First, on a gray background, ..."
    replies = [p.reply for p in answers(model, processor, items, max_new_tokens=20)]
    truth_backgrounds = [background(item.answer) for item in items]
    right = sum(background(reply) == want for reply, want in zip(replies, truth_backgrounds)) / len(items)
    claimed = card_claims()["eval"]["first_clips"]["background"]
    assert len(items) == card_claims()["eval"]["first_clips"]["describe_n"]
    assert right >= claimed - MARGIN, f"background right in {right:.0%} of {len(items)} captions, card: {claimed:.0%}"
    commonest = max(Counter(truth_backgrounds).values()) / len(items)
    assert right > commonest, "no better than naming the commonest background every time"


def test_card_states_the_measured_accuracy_per_task():
    card = (DEMO_DIR / "README.md").read_text(encoding="utf-8")
    for split in ("eval", "eval_novel"):
        for task, score in card_claims()[split]["tasks"].items():
            assert f"{100 * score['accuracy']:.1f}%" in card, f"{split} {task} accuracy missing from the card"


def test_4bit_and_fp32_give_the_same_answer_to_most_questions(demo, held_out):
    pytest.importorskip("bitsandbytes")
    from crosslmm_cli.checkpoints.loader import load_model

    try:
        quantized, processor = load_model(DEMO_DIR, quantize="4bit", device="cpu")
    except Exception as error:  # bitsandbytes builds without a CPU 4-bit backend
        pytest.skip(f"bitsandbytes cannot run 4-bit on this CPU: {type(error).__name__}: {error}".splitlines()[0])
    assert type(quantized.model.language_model.layers[0].mlp.up_proj).__name__ == "Linear4bit"
    items = [item for item in held_out if item.task in BAR_TASKS][:40]
    full = [p.choice for p in answers(demo[0], demo[1], items)]
    four_bit = [p.choice for p in answers(quantized, processor, items)]
    agreement = sum(a == b for a, b in zip(full, four_bit)) / len(items)
    assert agreement >= 0.8, f"4-bit agrees with fp32 on {agreement:.0%} of {len(items)} questions"


@pytest.mark.xfail(strict=True, reason="the shipped demo encoder does not separate the scenes of "
                   "three-scenes.mp4 (it finds one cut of two, at 3.9 s); strict: a model that can must flip this")
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
