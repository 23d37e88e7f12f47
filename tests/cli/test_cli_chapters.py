import json

import numpy as np
import pytest

from crosslmm_cli.tasks.chapter_formats import check_youtube, format_chapters, youtube_options
from crosslmm_cli.tasks.chapters import Chapter, ChapterOptions, change_scores, detect_chapters
from crosslmm_cli.errors import InputError, UsageError


def scenes(*lengths, fps=1.0, dim=16, noise=0.01, seed=0):
    """Features of consecutive scenes (one random direction each, small noise) sampled at `fps`."""
    rng = np.random.default_rng(seed)
    feats, times, t = [], [], 0.0
    for length in lengths:
        direction = rng.normal(size=dim)
        for _ in range(int(length * fps)):
            feats.append(direction + noise * rng.normal(size=dim))
            times.append(t + 0.5 / fps)
            t += 1 / fps
    return np.array(feats), np.array(times), float(sum(lengths))


def test_change_scores_are_cosine_distances():
    feats = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [0.0, -1.0]])
    np.testing.assert_allclose(change_scores(feats), [0.0, 1.0, 2.0])


def test_cuts_are_found_between_the_frames_around_them():
    feats, times, duration = scenes(30, 20, 40)
    chapters = detect_chapters(feats, times, duration)
    assert [(c.start, c.end) for c in chapters] == [(0.0, 30.0), (30.0, 50.0), (50.0, 90.0)]
    assert chapters[1].frames == tuple(range(30, 50))


def test_min_length_drops_the_weaker_of_two_close_cuts():
    feats, times, duration = scenes(30, 4, 40)  # a 4 s insert
    chapters = detect_chapters(feats, times, duration, ChapterOptions(min_length=10))
    assert len(chapters) == 2 and chapters[0].start == 0 and chapters[-1].end == duration
    assert chapters[1].start in (30.0, 34.0)
    assert all(c.length >= 10 for c in chapters)


def test_max_chapters_keeps_the_strongest_changes():
    feats, times, duration = scenes(20, 20, 20, 20, 20)
    feats[60:] = feats[59] + 0.2 * (feats[60:] - feats[59])  # the last two cuts are weaker
    chapters = detect_chapters(feats, times, duration, ChapterOptions(max_chapters=3, threshold=0.0))
    assert len(chapters) == 3


def test_long_static_stretches_are_split_to_max_length():
    feats, times, duration = scenes(100)
    chapters = detect_chapters(feats, times, duration, ChapterOptions(max_length=30))
    assert len(chapters) == 4 and all(c.length <= 30 for c in chapters)
    assert chapters[0].start == 0 and chapters[-1].end == 100


def test_no_change_gives_one_chapter_and_a_single_frame_works():
    feats, times, duration = scenes(60)
    assert len(detect_chapters(feats, times, duration)) == 1
    [only] = detect_chapters(np.ones((1, 4)), np.array([3.0]), 7.0)
    assert (only.start, only.end, only.frames) == (0.0, 7.0, (0,))


def test_sparse_frames_still_give_every_chapter_a_frame():
    feats = np.eye(3)
    chapters = detect_chapters(feats, np.array([10.0, 300.0, 590.0]), 600.0, ChapterOptions(max_length=100))
    assert all(c.frames for c in chapters)
    assert all(c.length <= 100 for c in chapters)


def test_bad_options_are_usage_errors():
    with pytest.raises(UsageError, match="max-length"):
        ChapterOptions(min_length=20, max_length=10)
    with pytest.raises(UsageError, match="max-chapters"):
        ChapterOptions(max_chapters=0)


CHAPTERS = [Chapter(0.0, 12.5, (0,), "Intro"), Chapter(12.5, 61.25, (1,), "A = b; #1\\x"), Chapter(61.25, 75.0, (2,), "End")]


def test_text_json_vtt_and_ffmetadata_formats():
    assert format_chapters(CHAPTERS, "text", duration=75.0).splitlines()[1] == "0:12–1:01  A = b; #1\\x"
    data = json.loads(format_chapters(CHAPTERS, "json", duration=75.0, path="v.mp4"))
    assert data["chapters"][1] == {"start": 12.5, "end": 61.25, "title": "A = b; #1\\x"} and data["path"] == "v.mp4"
    vtt = format_chapters(CHAPTERS, "vtt", duration=75.0)
    assert vtt.startswith("WEBVTT\n\n1\n00:00:00.000 --> 00:00:12.500\nIntro\n")
    meta = format_chapters(CHAPTERS, "ffmetadata", duration=75.0)
    assert meta.startswith(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=12500\ntitle=Intro\n")
    assert "START=12500\nEND=61250\ntitle=A \\= b\\; \\#1\\\\x\n" in meta


def test_youtube_format_enforces_youtubes_rules():
    assert format_chapters(CHAPTERS, "youtube", duration=75.0) == "0:00 Intro\n0:12 A = b; #1\\x\n1:01 End\n"
    with pytest.raises(InputError, match="only 2 chapter"):
        check_youtube(CHAPTERS[:2], 61.25)
    with pytest.raises(InputError, match="too short"):
        check_youtube(CHAPTERS, 25.0)
    short = [Chapter(0, 30, (), "a"), Chapter(30, 39.5, (), "b"), Chapter(39.5, 60, (), "c")]
    with pytest.raises(InputError, match="0:30 is shorter than 10 s"):
        check_youtube(short, 60.0)


def test_youtube_detection_options_satisfy_the_rules_even_without_cuts():
    feats, times, duration = scenes(45, noise=0.0)
    chapters = detect_chapters(feats, times, duration, youtube_options(ChapterOptions(min_length=2)))
    check_youtube(chapters, duration)
    assert len(chapters) == 3 and all(float(c.start).is_integer() for c in chapters)
