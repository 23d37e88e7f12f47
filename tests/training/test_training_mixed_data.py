"""Training data beyond one-video conversations: text-only records, parts of videos, batches of one kind."""

from __future__ import annotations

import json

import pytest
from training_fixtures import COLOURS, QUESTION

from crosslmm_cli.checkpoints.loader import load_model
from crosslmm_cli.engine.generation import generate_replies
from crosslmm_cli.engine.options import FrameOptions
from crosslmm_cli.training.dataset import ConversationDataset, EpochBatches, pad_batch
from crosslmm_cli.training.frame_cache import FrameLoader
from crosslmm_cli.training.loop import LoopSettings
from crosslmm_cli.training.optim import OptimizerSettings
from crosslmm_cli.training.records import read_conversations
from crosslmm_cli.training.sft import TrainSettings, train
from crosslmm_cli.training.tokenization import encode_conversation

TEXT_QUESTIONS = {"Name the first colour.": "Red comes first.", "Name the last colour.": "Yellow comes last."}


def text_record(question: str, answer: str, **extra) -> dict:
    return {"conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}], **extra}


@pytest.fixture
def mixed_data(colour_data, tmp_path):
    lines = (colour_data / "train.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    for record in records:
        record["video"] = str(colour_data / record["video"])
    records += [text_record(q, a, id=f"text-{i}") for i, (q, a) in enumerate(TEXT_QUESTIONS.items())]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_text_only_and_segment_records_are_read_and_checked(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"\0")
    good = [text_record("Hello?", "Hi."), {"video": "clip.mp4", "start": 1.5, "end": 3,
                                           "conversations": [{"from": "human", "value": "<video>\nWhat?"}, {"from": "gpt", "value": "A."}]}]
    bad = [text_record("<video>\nHello?", "Hi."), text_record("Hello?", "Hi.", start=1.0),
           {**good[1], "start": 4.0}, {**good[1], "end": -1}, {**good[1], "start": "soon"}]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in good + bad))
    conversations, problems = read_conversations(tmp_path / "data.jsonl")
    text, part = conversations
    assert text.video is None and text.turns == (("Hello?", "Hi."),) and text.segment is None
    assert part.segment == (1.5, 3.0) and part.video == (tmp_path / "clip.mp4").resolve()
    assert [p.split(": ", 1)[1] for p in problems] == [
        "conversations[0] holds a <video> marker but the record has no 'video'",
        "'start'/'end' name a part of a video, but the record has no 'video'",
        "'end' (3 s) must be after 'start' (4 s)",
        "'end' must be a time in seconds >= 0, got -1",
        "'start' must be a time in seconds >= 0, got 'soon'",
    ]


def test_batches_hold_one_kind_and_cover_every_item_once_per_epoch():
    kinds = [i % 3 == 0 for i in range(23)]
    batches = EpochBatches(23, 4, seed=5, groups=kinds)
    for epoch in range(3):
        order = batches.batches(epoch)
        assert len(order) == batches.batches_per_epoch == 2 + 4  # 8 of one kind, 15 of the other
        assert sorted(i for batch in order for i in batch) == list(range(23))
        assert all(len({kinds[i] for i in batch}) == 1 for batch in order)
    assert batches.batches(1) != batches.batches(2) and batches.batches(1) == EpochBatches(23, 4, 5, groups=kinds).batches(1)
    batches.set_epoch(1, skip=2)
    assert list(batches) == batches.batches(1)[2:]  # a resumed epoch skips exactly the batches done
    assert EpochBatches(5, 2, 0, groups=[True] * 5).batches(0) == EpochBatches(5, 2, 0).batches(0)  # one kind: as before


def test_a_mixed_file_trains_the_text_answers_and_the_video_answers(mixed_data, colour_data, tiny_model_dir, tmp_path):
    settings = TrainSettings(data=mixed_data, model=str(tiny_model_dir), output=tmp_path / "out", stage=2, frames=4,
                             progress=False, loop=LoopSettings(epochs=60, batch_size=4, warmup=0.1),
                             optimizer=OptimizerSettings(lr=1e-2))
    result = train(settings)
    assert result.loop.losses[-1] < result.loop.losses[0] / 20
    model, processor = load_model(tmp_path / "out", quantize="none", device="cpu")
    tokenizer = processor.tokenizer
    for question, answer in TEXT_QUESTIONS.items():
        text = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, return_tensors="pt")["input_ids"]
        out = model.generate(input_ids=ids, max_new_tokens=32, do_sample=False)
        assert tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip() == answer
    frames = FrameLoader(processor.image_processor, FrameOptions(num_frames=4), exact=True)
    for name in COLOURS:
        clip = frames.load(colour_data / "videos" / f"{name}.mp4")
        assert generate_replies(model, processor, clip, [QUESTION], max_new_tokens=12) == [f"The video is {name}."]


def test_a_segment_record_sees_frames_of_that_part_and_a_prompt_that_names_it(colour_data, tiny_model_dir):
    _, processor = load_model(tiny_model_dir, quantize="none", device="cpu")
    loader = FrameLoader(processor.image_processor, FrameOptions(num_frames=2), exact=True)
    video = colour_data / "videos" / f"{next(iter(COLOURS))}.mp4"
    whole, part = loader.load(video), loader.load(video, segment=(1.0, None))
    assert whole.segment is None and part.segment == (1.0, part.duration)
    assert part.timestamps.min() >= 1.0 > whole.timestamps.min()
    turns = ((QUESTION, "Red."),)
    encoded = encode_conversation(processor, turns, timestamps=part.timestamps.tolist(), duration=part.duration,
                                  segment=part.segment)
    text = processor.tokenizer.decode(encoded.input_ids)
    assert f"from the part between 1.00s and {part.duration:.2f}s" in text
    plain = processor.tokenizer.decode(encode_conversation(processor, turns, timestamps=whole.timestamps.tolist(),
                                                           duration=whole.duration).input_ids)
    assert "from the part between" not in plain


def test_a_batch_never_mixes_text_only_and_video_items(mixed_data, tiny_model_dir):
    _, processor = load_model(tiny_model_dir, quantize="none", device="cpu")
    conversations, _ = read_conversations(mixed_data)
    dataset = ConversationDataset(conversations, processor, FrameLoader(processor.image_processor, FrameOptions(num_frames=2), exact=True))
    text_items = [dataset[i] for i, c in enumerate(conversations) if c.video is None]
    assert "pixel_values_videos" not in pad_batch(text_items, pad_id=0)
    with pytest.raises(ValueError, match="mixes text-only items and items with a video"):
        pad_batch([dataset[0], text_items[0]], pad_id=0)
    assert dataset.modalities().count(False) == len(TEXT_QUESTIONS)
