"""The frames that come out are the frames asked for, and each timestamp is the time that frame
is shown. The fixtures draw their frame number into every frame, so this is checked exactly."""

import numpy as np
import pytest

from crosslmm_cli.video import probe, sample_frames

FPS = 30.0
#: Fixtures decord is trusted with (auto picks decord) and those it gets wrong (auto picks ffmpeg).
DECORD_OK = ["h264", "h264_mkv", "h264_mov", "vp9_webm", "av1"]
FFMPEG_ONLY = ["hevc_closed", "hevc_open", "mpeg2_ts", "mpeg4_avi"]


def assert_true_frames(frames, read_number, fps=FPS):
    numbers = np.array([read_number(frame) for frame in frames.array])
    assert numbers.tolist() == frames.indices.tolist(), "a decoder returned a different frame than it reported"
    np.testing.assert_allclose(frames.timestamps, numbers / fps, atol=1e-3)
    assert np.all(np.diff(frames.timestamps) > 0)


# Forcing decord on FFMPEG_ONLY files gives wrong frames or random failures: test_video_backends.py.
CASES = [(f, b) for f in DECORD_OK + FFMPEG_ONLY for b in ("auto", "decord", "ffmpeg") if not (b == "decord" and f in FFMPEG_ONLY)]


@pytest.mark.parametrize(("fixture", "backend"), CASES, ids=[f"{f}-{b}" for f, b in CASES])
@pytest.mark.parametrize("snap", [True, False], ids=["keyframe-snapped", "exact"])
def test_uniform_sampling_returns_the_reported_frames(media, read_number, fixture, backend, snap):
    frames = sample_frames(media[fixture], num_frames=12, backend=backend, snap_to_keyframes=snap)
    if backend != "auto":
        assert frames.backend == backend
    elif fixture in FFMPEG_ONLY:
        assert frames.backend == "ffmpeg"
    else:  # decord decodes the chosen keyframes, ffmpeg the frames between them (if any)
        assert frames.backend in ("decord", "decord+ffmpeg", "ffmpeg")
    assert not frames.partial and frames.warning is None
    assert len(frames) == 12
    assert_true_frames(frames, read_number)
    duration = frames.info.duration
    if snap and fixture != "av1":  # 12 bins of 0.83 s over 1 s GOPs: 10 bins hold a keyframe and use it
        assert np.count_nonzero(frames.indices % 30 == 0) == 10
    if not snap:  # the frame on screen at each bin centre (MKV/WebM store ms: allow 1 ms at boundaries)
        centres = (np.arange(12) + 0.5) * duration / 12
        assert np.all(frames.indices >= np.floor((centres - 1e-3) * FPS))
        assert np.all(frames.indices <= np.floor((centres + 1e-3) * FPS))


@pytest.mark.decord
def test_auto_splits_keyframes_and_other_frames_between_decord_and_ffmpeg(media, read_number):
    frames = sample_frames(media["h264"], num_frames=12)  # 10 bins hold a keyframe, 2 do not
    assert frames.backend == "decord+ffmpeg"
    assert_true_frames(frames, read_number)
    only_keyframes = sample_frames(media["h264"], num_frames=5)  # 2 s bins: every one holds a keyframe
    assert only_keyframes.backend == "decord" and np.all(only_keyframes.indices % 30 == 0)
    no_keyframes = sample_frames(media["h264"], times=(0.5, 4.2))
    assert no_keyframes.backend == "ffmpeg"
    assert [read_number(frame) for frame in no_keyframes.array] == [15, 126]


@pytest.mark.parametrize("backend", ["decord", "ffmpeg"])
def test_exact_times_give_the_frame_on_screen_at_that_time(media, read_number, backend):
    times = (0.5, 1.0, 2.3456, 7.99, 9.99)
    frames = sample_frames(media["h264"], times=times, backend=backend)
    expected = np.floor(np.array(times) * FPS + 1e-9).astype(int)  # 15, 30, 70, 239, 299
    assert [read_number(frame) for frame in frames.array] == expected.tolist()
    assert_true_frames(frames, read_number)


@pytest.mark.parametrize("backend", ["decord", "ffmpeg"])
@pytest.mark.parametrize("snap", [True, False])
def test_segment_frames_stay_inside_start_end(media, read_number, backend, snap):
    frames = sample_frames(media["h264"], num_frames=6, start=3.2, end=6.7, backend=backend, snap_to_keyframes=snap)
    assert_true_frames(frames, read_number)
    assert frames.timestamps.min() >= 3.2 and frames.timestamps.max() < 6.7


@pytest.mark.parametrize("backend", ["decord", "ffmpeg"])
def test_fps_sampling(media, read_number, backend):
    frames = sample_frames(media["h264"], fps=2.0, backend=backend, snap_to_keyframes=False)
    assert len(frames) == 20
    assert_true_frames(frames, read_number)
    capped = sample_frames(media["h264"], fps=2.0, max_frames=5, backend=backend)
    assert len(capped) == 5


@pytest.mark.parametrize("backend", ["auto", "decord", "ffmpeg"])
def test_variable_frame_rate_timestamps_are_the_real_ones(media, read_number, backend):
    path = media["vfr"]
    frames = sample_frames(path, num_frames=10, backend=backend, snap_to_keyframes=False)
    numbers = [read_number(frame) for frame in frames.array]
    np.testing.assert_allclose(frames.timestamps, [media.vfr_pts(n) for n in numbers], atol=1e-3)
    assert numbers == frames.indices.tolist()
    # 10 fps for the first second, 4 fps after: bin centres 0.29, 0.86, ... pick frames on screen then.
    end = frames.info.duration  # last pts + the last packet's duration
    assert media.vfr_pts(29) < end <= media.vfr_pts(29) + 0.25 + 1e-6
    centres = (np.arange(10) + 0.5) * end / 10
    shown = [max(n for n in range(30) if media.vfr_pts(n) <= t + 1e-9) for t in centres]
    assert numbers == shown


@pytest.mark.parametrize("backend", ["auto", "decord", "ffmpeg"])
def test_rotation_is_applied(media, backend):
    info = probe(media["rotated"])
    assert (info.width, info.height, info.rotation) == (32, 64, 90)
    frames = sample_frames(media["rotated"], num_frames=2, backend=backend)
    # Portrait. Decord builds that cannot decode width 32 deliver the nearest width they can.
    width = 32
    if frames.backend.startswith("decord"):
        from crosslmm_cli.video.decord_backend import readable_width

        width = readable_width(32, 64)
    assert frames.array.shape[1:3] == (64, width)
    frame = frames.array[0].mean(axis=-1)
    # Stored landscape with a white square top-left; turned 90 degrees clockwise it is top-right.
    assert frame[:14, -14:].mean() > 200 and frame[:14, :14].mean() < 50 and frame[-14:, :].mean() < 50


@pytest.mark.parametrize("backend", ["auto", "decord", "ffmpeg"])
def test_one_frame_video(media, read_number, backend):
    frames = sample_frames(media["one_frame"], num_frames=16, backend=backend)
    assert len(frames) == 1 and frames.timestamps.tolist() == [0.0] and read_number(frames.array[0]) == 0
    assert frames.info.num_frames == 1


@pytest.mark.parametrize("backend", ["decord", "ffmpeg"])
def test_two_hour_file(media, read_number, backend):
    path = media["two_hours"]
    info = probe(path)
    assert info.duration == 7200.0 and info.num_frames == 7200 and not info.num_frames_exact
    frames = sample_frames(path, num_frames=16, backend=backend)
    assert_true_frames(frames, read_number, fps=1.0)
    assert frames.info.num_frames == 7200 and frames.info.num_frames_exact
    assert frames.timestamps[0] < 450 and frames.timestamps[-1] > 6750
    late = sample_frames(path, times=(7199.0, 3601.5), backend=backend)
    assert [read_number(frame) for frame in late.array] == [3601, 7199]


@pytest.mark.parametrize("backend", ["decord", "ffmpeg"])
def test_decodes_at_the_requested_size(media, backend):
    frames = sample_frames(media["large"], num_frames=4, size=96, backend=backend)
    assert frames.array.shape == (4, 96, 171, 3)  # 640x360 -> shorter side 96, aspect kept
    exact = sample_frames(media["large"], num_frames=4, size=(64, 48), backend=backend)
    assert exact.array.shape == (4, 48, 64, 3)
    full = sample_frames(media["large"], num_frames=4, backend=backend)
    assert full.array.shape == (4, 360, 640, 3)
    assert full.info.width == 640 and full.info.height == 360


def test_file_with_audio_samples_the_video(media, read_number):
    frames = sample_frames(media["with_audio"], num_frames=5, snap_to_keyframes=False)
    assert_true_frames(frames, read_number)


def test_still_images(media):
    png = sample_frames(media["png"], num_frames=8)
    assert png.backend == "pillow" and len(png) == 1 and png.timestamps.tolist() == [0.0]
    assert png.array[0, :20, :30].tolist() == [[[255, 0, 0]] * 30] * 20 and png.array[0, 20:].max() == 0
    info = probe(media["png"])
    assert info.is_image and (info.width, info.height, info.num_frames, info.duration) == (60, 40, 1, 0.0)
    jpeg = sample_frames(media["jpeg"], size=15)
    assert jpeg.array.shape == (1, 15, 25, 3) and abs(int(jpeg.array.mean()) - 200) <= 2


def test_animated_gif(media, read_number):
    path = media["gif"]
    info = probe(path)
    assert info.is_image and info.num_frames == 20 and info.duration == pytest.approx(2.0)
    frames = sample_frames(path, num_frames=5, snap_to_keyframes=False)
    numbers = [read_number(frame) for frame in frames.array]
    assert numbers == frames.indices.tolist() == [2, 6, 10, 14, 18]
    np.testing.assert_allclose(frames.timestamps, np.array(numbers) * 0.1, atol=1e-6)


def test_file_names_with_spaces_and_non_ascii(media):
    path = media["h264"]
    assert " " in path.name and not path.name.isascii()
    assert probe(path).codec == "h264"
    assert probe(str(path)).container == "mp4"
