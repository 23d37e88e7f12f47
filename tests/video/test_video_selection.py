"""Frame selection is a pure function of the index and the options: tested without any video."""

import numpy as np
import pytest

from crosslmm_cli.video import FrameIndex, SamplingOptions, select_frames
from crosslmm_cli.video.selection import SegmentOutOfRange, frame_count


def cfr(frames=300, fps=30.0, gop=30):
    return FrameIndex.regular(frames, fps, keyframe_interval=gop)


def test_uniform_takes_the_frame_shown_at_each_bin_centre():
    index = cfr(gop=None)  # every frame a keyframe: snapping changes nothing
    selection = select_frames(index, SamplingOptions(num_frames=4, snap_to_keyframes=False))
    # 10 s in 4 bins of 2.5 s: centres 1.25, 3.75, 6.25, 8.75 s -> frames 37, 112, 187, 262.
    np.testing.assert_allclose(selection.targets, [1.25, 3.75, 6.25, 8.75])
    assert selection.indices.tolist() == [37, 112, 187, 262]


def test_frame_shown_at_a_time_is_the_last_one_starting_at_or_before_it():
    index = FrameIndex(pts=np.array([0.0, 0.1, 0.5, 2.0]), keyframe=np.ones(4, bool), end=3.0)
    assert index.frame_at(np.array([0.0, 0.09, 0.1, 0.49, 0.5, 1.99, 2.0, 2.9])).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_snapping_uses_a_keyframe_inside_the_same_bin_nearest_the_centre():
    index = cfr()  # keyframes at 0, 30, 60, ... (every second)
    selection = select_frames(index, SamplingOptions(num_frames=4))
    assert selection.indices.tolist() == [30, 120, 180, 270]  # nearest keyframes to 37, 112, 187, 262
    assert all(index.keyframe[selection.indices])
    lows = np.arange(4) * 2.5
    times = index.pts[selection.indices]
    assert np.all((times >= lows) & (times < lows + 2.5)), "a snapped frame must stay in its bin"


def test_snapping_without_a_keyframe_in_the_bin_keeps_the_exact_frame():
    index = cfr(gop=150)  # keyframes at 0 s and 5 s only
    selection = select_frames(index, SamplingOptions(num_frames=10))
    # bins of 1 s: only the bins [0,1) and [5,6) contain keyframes.
    assert selection.indices.tolist() == [0, 45, 75, 105, 135, 150, 195, 225, 255, 285]


def test_segment_limits_every_frame_to_start_end():
    index = cfr()
    for snap in (True, False):
        selection = select_frames(index, SamplingOptions(num_frames=5, start=2.0, end=4.0, snap_to_keyframes=snap))
        times = index.pts[selection.indices]
        assert times.min() >= 2.0 and times.max() < 4.0
        assert selection.segment == (2.0, 4.0)


def test_end_past_the_video_is_clamped_and_start_past_it_is_an_error():
    index = cfr()
    selection = select_frames(index, SamplingOptions(num_frames=2, start=8.0, end=100.0, snap_to_keyframes=False))
    assert selection.segment == (8.0, 10.0)
    assert selection.indices.tolist() == [255, 285]
    with pytest.raises(SegmentOutOfRange, match="start 10 s is past the end"):
        select_frames(index, SamplingOptions(start=10.0))


def test_fps_sets_the_count_and_is_capped_by_max_frames():
    index = cfr()
    assert len(select_frames(index, SamplingOptions(fps=2.0, snap_to_keyframes=False)).indices) == 20
    assert len(select_frames(index, SamplingOptions(fps=2.0, max_frames=8)).indices) == 8
    assert frame_count(SamplingOptions(fps=0.01), 10.0) == 1
    assert frame_count(SamplingOptions(num_frames=100, max_frames=8), 10.0) == 100  # explicit count wins
    assert frame_count(SamplingOptions(), 10.0) == 64


def test_more_bins_than_frames_returns_each_frame_once_in_order():
    index = FrameIndex.regular(5, 25.0)
    selection = select_frames(index, SamplingOptions(num_frames=64))
    assert selection.indices.tolist() == [0, 1, 2, 3, 4]
    one = select_frames(FrameIndex.regular(1, 25.0), SamplingOptions(num_frames=8))
    assert one.indices.tolist() == [0]


def test_exact_times_pick_the_frame_on_screen_and_never_snap():
    index = cfr()
    selection = select_frames(index, SamplingOptions(times=(0.0, 1.0, 1.0333, 2.01, 9.999)))
    assert selection.indices.tolist() == [0, 30, 60, 299]  # 1.0333 s still shows frame 30 (1.0-1.0333)
    with pytest.raises(SegmentOutOfRange, match="time 10 s is past the end"):
        select_frames(index, SamplingOptions(times=(10.0,)))


def test_variable_frame_rate_selection_uses_real_times():
    pts = np.concatenate([np.arange(10) * 0.1, 1.0 + np.arange(20) * 0.25])  # 10 fps then 4 fps
    index = FrameIndex(pts=pts, keyframe=np.ones(30, bool), end=6.0)
    selection = select_frames(index, SamplingOptions(num_frames=6, snap_to_keyframes=False))
    # centres 0.5, 1.5, ..., 5.5 s
    assert selection.indices.tolist() == [5, 12, 16, 20, 24, 28]
    assert np.all(np.abs(index.pts[selection.indices] - selection.targets) < 0.25 + 1e-9)


def test_frame_index_rejects_unordered_or_mismatched_arrays():
    with pytest.raises(ValueError, match="strictly increasing"):
        FrameIndex(pts=np.array([0.0, 0.0]), keyframe=np.ones(2, bool), end=1.0)
    with pytest.raises(ValueError, match="matching"):
        FrameIndex(pts=np.array([0.0, 1.0]), keyframe=np.ones(3, bool), end=2.0)
