"""Decoded frames: the image processor's tile size, exact counts, and a cache that spares re-decoding."""

from __future__ import annotations

import os

import numpy as np
import pytest
from training_fixtures import COLOURS, colour_clip, tiny_processor, write_video

from crosslmm_cli.training import frame_cache as frames_module
from crosslmm_cli.engine.options import FrameOptions as FrameSampling
from crosslmm_cli.training.frame_cache import ClipDecodeError, FrameLoader
from crosslmm_cli.video.discovery import find_videos


def test_frames_come_at_the_tile_size_and_match_the_processor(colour_data):
    processor = tiny_processor()
    loader = FrameLoader(processor.image_processor, FrameSampling(num_frames=4))
    clip = loader.load(colour_data / "videos" / "red.mp4")
    assert clip.frames.shape == (4, 32, 32, 3) and clip.frames.dtype == np.uint8
    assert np.all(np.diff(clip.timestamps) > 0) and clip.duration == pytest.approx(2.0)
    assert np.abs(clip.frames[..., 0].astype(int) - COLOURS["red"][0]).mean() < 40  # mostly red
    pixels = loader.pixels(clip)
    assert pixels.shape == (4, 3, 32, 32)
    assert (pixels == processor.image_processor(clip.frames)).all()


def test_the_cache_decodes_each_clip_once(colour_data, tmp_path, monkeypatch):
    calls = []
    decode = frames_module.decode_clip
    monkeypatch.setattr(frames_module, "decode_clip", lambda *a, **k: calls.append(a[0]) or decode(*a, **k))
    video = tmp_path / "clip.mp4"
    video.write_bytes((colour_data / "videos" / "blue.mp4").read_bytes())
    loader = FrameLoader(tiny_processor().image_processor, FrameSampling(num_frames=4), cache_dir=tmp_path / "cache")
    first = loader.load(video)
    second = loader.load(video)
    assert len(calls) == 1 and len(list((tmp_path / "cache").glob("*.npz"))) == 1
    assert (first.frames == second.frames).all() and (first.timestamps == second.timestamps).all()
    os.utime(video, ns=(1, 1))  # the file changed: decoded again
    loader.load(video)
    assert len(calls) == 2
    other = FrameLoader(tiny_processor().image_processor, FrameSampling(num_frames=2), cache_dir=tmp_path / "cache")
    assert other.load(video).num_frames == 2 and len(calls) == 3  # another sampling is another entry


def test_exact_counts_repeat_frames_of_short_clips(tmp_path):
    video = write_video(tmp_path / "short.mp4", colour_clip((0, 0, 0), frames=3))
    loose = FrameLoader(tiny_processor().image_processor, FrameSampling(num_frames=8)).load(video)
    exact = FrameLoader(tiny_processor().image_processor, FrameSampling(num_frames=8), exact=True).load(video)
    assert loose.num_frames == 3
    assert exact.num_frames == 8 and np.all(np.diff(exact.timestamps) >= 0)
    assert set(np.round(exact.timestamps, 6)) == set(np.round(loose.timestamps, 6))


def test_undecodable_files_are_named(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video")
    loader = FrameLoader(tiny_processor().image_processor, FrameSampling(num_frames=4), cache_dir=tmp_path / "cache")
    with pytest.raises(ClipDecodeError, match="notes.mp4"):
        loader.load(bad)
    with pytest.raises(ClipDecodeError, match="missing.mp4"):
        loader.load(tmp_path / "missing.mp4")


def test_find_videos(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/b/x.MP4", "a/y.webm", "z.txt", "w.mkv"):
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in find_videos(tmp_path)] == ["a/b/x.MP4", "a/y.webm", "w.mkv"]
