"""Written datasets: valid train/eval/chapter files, reproducible bytes for a seed, disjoint
splits, and a tokenizer corpus that covers every word they contain."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from synth_frames import N_CLIPS, SEED, decode_mp4

from crosslmm_cli.synthetic import TASKS, Clip, WorldConfig, read_clips, text_corpus, write_dataset
from crosslmm_cli.synthetic.formats import VIDEO_TOKEN

WORD = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]")


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_train_file_is_llava_conversations(dataset: dict) -> None:
    files = dataset["train"]
    records = json.loads(files.questions.read_text(encoding="utf-8"))
    assert isinstance(records, list) and len(records) == files.n_records
    assert len({r["id"] for r in records}) == len(records)
    tasks = set()
    for r in records:
        assert set(r) == {"id", "video", "conversations", "tasks"}
        assert not Path(r["video"]).is_absolute() and (files.questions.parent / r["video"]).is_file()
        turns = r["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2) and len(turns) == 2 * len(r["tasks"])
        assert turns[0]["value"].startswith(VIDEO_TOKEN + "\n")
        assert sum(t["value"].count(VIDEO_TOKEN) for t in turns) == 1
        for human, gpt in zip(turns[::2], turns[1::2]):
            lettered = re.findall(r"^([A-D])\. ", human["value"], re.M)
            if lettered:  # multiple choice: the answer is one of the listed letters
                assert gpt["value"] in lettered and human["value"].endswith("given choices directly.")
            assert gpt["value"].strip() == gpt["value"] != ""
        tasks.update(r["tasks"])
    assert tasks == set(TASKS)  # every question type, chapters included, reaches training


def _clips(files, subset: str) -> dict[str, Clip]:
    """video -> clip spec for the clips.jsonl rows of one subset ("standard" or "novel")."""
    rows = [json.loads(line) for line in files.clips.read_text(encoding="utf-8").splitlines()]
    return {row["video"]: Clip.from_dict(row) for row in rows if row["subset"] == subset}


@pytest.mark.parametrize(("attribute", "subset"), [("questions", "standard"), ("novel_questions", "novel")])
def test_eval_files_have_one_item_per_task_per_clip(dataset: dict, attribute: str, subset: str) -> None:
    files = dataset["eval"]
    path = getattr(files, attribute)
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    count = files.n_records if subset == "standard" else files.n_novel_records
    assert len(items) == count and len({i["id"] for i in items}) == len(items)
    clips = _clips(files, subset)
    assert len(clips) == (files.n_clips if subset == "standard" else files.n_novel_clips) >= 1
    per_clip: dict[str, list[str]] = {}
    for item in items:
        assert item["task"] in TASKS and item["task"] != "chapters"
        assert (path.parent / item["video"]).is_file()
        if "options" in item:
            assert set(item) == {"id", "video", "task", "question", "options", "answer"}
            assert item["answer"] in "ABCD"[: len(item["options"])] and len(item["answer"]) == 1
        else:
            assert set(item) == {"id", "video", "task", "question", "answer", "match"}
            assert item["match"] == "exact" and item["task"] == "describe"
        per_clip.setdefault(item["video"], []).append(item["task"])
    assert set(per_clip) == set(clips)
    for video, tasks in per_clip.items():
        clip = clips[video]
        assert len(tasks) == len(set(tasks))
        if len(clip.scenes) > 1:
            assert tasks == ["describe"]
        else:
            scene = clip.scenes[0]
            expected = {"colour", "size", "count", "motion", "event", "detail", "describe"}
            if scene.event is not None:
                expected.add("when")
            if any(scene.event_on(i, "change") is None for i in range(len(scene.objects))):
                expected.add("shape")  # a recolouring object has no single colour to name it by
            assert set(tasks) == expected


def test_novel_questions_ask_about_the_held_out_pair(dataset: dict, config: WorldConfig) -> None:
    """In eval_novel.jsonl, shape questions name the colour of a held-out colour-shape pair:
    the combination training never showed."""
    files = dataset["eval"]
    clips = _clips(files, "novel")
    asked = 0
    for line in files.novel_questions.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        scene = clips[item["video"]].scenes[0]
        if item["task"] == "shape":
            colour = re.search(r"(\w+)(?: object)?\?$", item["question"])[1]
            shape = next(o.shape for o in scene.objects if o.colour == colour)
            assert (colour, shape) in config.held_out_pairs, item
            asked += 1
    assert asked >= 1


def test_chapter_files_match_the_videos(dataset: dict, config: WorldConfig) -> None:
    for files in dataset.values():
        rows = [json.loads(line) for line in files.chapters.read_text(encoding="utf-8").splitlines()]
        clips = dict(read_clips(files.clips))
        assert len(rows) == files.n_chapter_clips == sum(len(c.scenes) > 1 for c in clips.values()) >= 1
        for row in rows:
            assert set(row) == {"video", "duration", "chapters"}
            chapters = row["chapters"]
            assert chapters[0]["start"] == 0.0 and chapters[-1]["end"] == row["duration"]
            assert all(a["end"] == b["start"] for a, b in zip(chapters, chapters[1:]))
            assert len({c["title"] for c in chapters}) == len(chapters) == len(clips[row["video"]].scenes)
            frames = decode_mp4(files.root / row["video"], config.frame_size)
            assert len(frames) / config.fps == pytest.approx(row["duration"])


def test_same_seed_writes_the_same_bytes_and_another_seed_does_not(dataset: dict, tmp_path: Path) -> None:
    """Byte-identical files, videos included (one encoder thread, bit-exact muxing), and so the
    same decoded frames; a larger n only appends clips."""
    again = write_dataset(tmp_path / "again", N_CLIPS, seed=SEED, split="both", workers=1)
    for split, files in dataset.items():
        assert _digests(files.root) == _digests(again[split].root)
    novel = dataset["eval"].n_novel_clips
    bigger = write_dataset(tmp_path / "bigger", N_CLIPS + 2, seed=SEED, split="eval", n_novel=novel)["eval"]
    rows, rows_before = bigger.clips.read_text().splitlines(), dataset["eval"].clips.read_text().splitlines()
    assert rows[:N_CLIPS] == rows_before[:N_CLIPS] and rows[-novel:] == rows_before[-novel:]
    other = write_dataset(tmp_path / "other", 2, seed=SEED + 1, split="eval")["eval"]
    assert other.clips.read_text().splitlines()[0] != dataset["eval"].clips.read_text().splitlines()[0]


def test_written_splits_share_no_clip(dataset: dict) -> None:
    specs = {s: {json.dumps(c.to_dict()["scenes"]) for _, c in read_clips(f.clips)} for s, f in dataset.items()}
    assert len(specs["train"]) == N_CLIPS and len(specs["eval"]) == N_CLIPS + dataset["eval"].n_novel_clips
    assert not specs["train"] & specs["eval"]
    videos = {s: set(_digests(f.root / "videos").values()) for s, f in dataset.items()}
    assert not videos["train"] & videos["eval"]


def test_world_json_describes_the_rendering(dataset: dict, config: WorldConfig) -> None:
    for files in dataset.values():
        assert WorldConfig.from_dict(json.loads(files.world.read_text())) == config


def test_corpus_covers_every_word_the_dataset_uses(dataset: dict) -> None:
    vocabulary = {w for text in text_corpus() for w in WORD.findall(text)}
    texts = []
    train = json.loads(dataset["train"].questions.read_text(encoding="utf-8"))
    texts += [t["value"].replace(VIDEO_TOKEN, "") for r in train for t in r["conversations"]]
    for path in (dataset["eval"].questions, dataset["eval"].novel_questions):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            texts += [item["question"], item["answer"], *item.get("options", [])]
    for files in dataset.values():
        for line in files.chapters.read_text(encoding="utf-8").splitlines():
            texts += [c["title"] for c in json.loads(line)["chapters"]]
    used = {w for text in texts for w in WORD.findall(text)}
    assert used <= vocabulary, used - vocabulary
    assert len(vocabulary) < 200  # the world's language stays tiny


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "test"}, "unknown split 'test'"),
        ({"n": 0}, "n must be at least 1"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"turns": 0}, "turns must be at least 1"),
    ],
)
def test_write_dataset_rejects_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"n": 1, "seed": 0, "split": "eval", **kwargs}
    with pytest.raises(ValueError, match=message):
        write_dataset(tmp_path, **args)


def test_multi_turn_records_pack_questions_of_one_clip(tmp_path: Path) -> None:
    files = write_dataset(tmp_path, 2, seed=1, split="train", turns=4, choice_fraction=0.0)["train"]
    records = json.loads(files.questions.read_text(encoding="utf-8"))
    assert max(len(r["tasks"]) for r in records) == 4
    for r in records:
        turns = r["conversations"]
        assert len(turns) == 2 * len(r["tasks"]) and turns[0]["value"].startswith(VIDEO_TOKEN)
        assert not any(VIDEO_TOKEN in t["value"] for t in turns[1:])
        assert not any(re.search(r"^A\. ", t["value"], re.M) for t in turns)  # choice_fraction 0: all open
