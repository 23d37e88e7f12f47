"""decord and ffmpeg agree; auto picks decord only where decord is right; a hung decode is
killed, the next backend runs, and the worker is replaced and recycled."""

import os
import stat
import subprocess
import time

import numpy as np
import pytest

from crosslmm_cli.video import DecodeTimeoutError, ffmpeg_executable, sample_frames
from crosslmm_cli.video import sampling as sampling_module
from crosslmm_cli.video.probing import probe_file
from crosslmm_cli.video.sampling import backend_order, decord_unsuitable
from crosslmm_cli.video.worker import DecodeWorker, WorkerTimeout

pytest.importorskip("decord")

REQUESTS = [
    {"num_frames": 12},
    {"num_frames": 12, "snap_to_keyframes": False},
    {"num_frames": 5, "start": 0.25, "end": 0.85},  # every fixture is at least 1 s long
    {"times": (0.0, 3.3, 9.98)},
    {"fps": 3.0, "size": 16},
]


@pytest.mark.parametrize("fixture", ["h264", "h264_mkv", "h264_mov", "vp9_webm", "av1", "vfr", "large", "rotated"])
@pytest.mark.parametrize("request_kwargs", REQUESTS, ids=["uniform", "exact", "segment", "times", "fps-resized"])
def test_decord_and_ffmpeg_return_the_same_frames_and_timestamps(media, fixture, request_kwargs):
    kwargs = dict(request_kwargs)
    if "times" in kwargs:
        kwargs["times"] = tuple(t for t in kwargs["times"] if t < 0.9)  # every fixture is longer than 0.9 s
    a = sample_frames(media[fixture], backend="decord", **kwargs)
    # Where this decord build cannot deliver the requested width it decodes at a nearby one
    # (decord_backend.readable_width); ffmpeg is asked for the size decord delivered.
    b = sample_frames(media[fixture], backend="ffmpeg", **{**kwargs, "size": (a.array.shape[2], a.array.shape[1])})
    assert (a.backend, b.backend) == ("decord", "ffmpeg")
    assert a.indices.tolist() == b.indices.tolist()
    np.testing.assert_allclose(a.timestamps, b.timestamps, atol=1e-4)
    assert a.array.shape == b.array.shape
    difference = np.abs(a.array.astype(np.int16) - b.array.astype(np.int16))
    assert difference.mean() < 0.5 and difference.max() <= 8  # same libav decoder and swscale path
    assert a.info.num_frames == b.info.num_frames and a.info.duration == pytest.approx(b.info.duration, abs=1e-3)


def test_auto_uses_decord_only_where_it_is_reliable(media):
    expected = {
        "h264": None,
        "vp9_webm": None,
        "av1": None,
        "hevc_closed": "codec hevc",
        "hevc_open": "codec hevc",
        "mpeg2_ts": "container mpegts",
        "mpeg4_avi": "container avi",
        "truncated": "the demuxer reported problems",
    }
    for fixture, reason in expected.items():
        probed = probe_file(str(media[fixture]))
        assert decord_unsuitable(probed) == reason, fixture
        assert backend_order(probed, "auto") == (["decord", "ffmpeg"] if reason is None else ["ffmpeg"])
        assert backend_order(probed, "ffmpeg") == ["ffmpeg"] and backend_order(probed, "decord") == ["decord"]


def test_open_gop_h264_is_sent_to_ffmpeg(media, tmp_path, read_number):
    path = tmp_path / "open gop.mp4"
    source = str(media["h264"])
    subprocess.run([ffmpeg_executable(), "-nostdin", "-loglevel", "error", "-y", "-i", source, "-c:v", "libx264",
                    "-preset", "veryfast", "-x264-params", "open-gop=1", "-g", "30", str(path)], check=True)
    assert decord_unsuitable(probe_file(str(path))) == "open GOPs or edit-list discards"
    frames = sample_frames(path, num_frames=12)
    assert frames.backend == "ffmpeg"
    assert [read_number(frame) for frame in frames.array] == frames.indices.tolist()


def test_forced_decord_warns_where_it_is_unreliable(media, read_number):
    # decord miscounts after open-GOP keyframes: the frames it returns are not the ones it reports.
    path = media["hevc_open"]
    try:
        frames = sample_frames(path, num_frames=8, backend="decord")
    except Exception as exc:  # decord's HEVC path also fails at random (see DECORD_CODECS)
        assert "avcodec_send_packet" in str(exc)
        return
    assert frames.warning == f"{path}: decord is unreliable here (codec hevc); frames may not match their timestamps"
    numbers = [read_number(frame) for frame in frames.array]
    assert numbers != frames.indices.tolist(), "decord got open GOPs right: revisit DECORD_CODECS"


def test_hung_decode_is_killed_and_the_worker_replaced(media):
    worker = DecodeWorker(env={**os.environ, "CROSSLMM_TEST_WORKER_HANG_ON": "hang"})
    request = {"path": "/nowhere/hang.mp4", "width": 16, "height": 16, "options": {"num_frames": 1}}
    started = time.monotonic()
    with pytest.raises(WorkerTimeout):
        worker.request(request, timeout_s=1.0)
    assert time.monotonic() - started < 5
    assert worker.pid is None  # killed
    good = {"path": str(media["h264"]), "width": 112, "height": 32, "options": {"num_frames": 3}}
    reply, arrays = worker.request(good, timeout_s=30)
    assert arrays["array"].shape == (3, 32, 112, 3) and worker.starts == 2
    worker.close()


def test_worker_is_recycled_to_bound_memory(media):
    request = {"path": str(media["h264"]), "width": 112, "height": 32, "options": {"num_frames": 2}}
    by_count = DecodeWorker(max_requests=2)
    pids = []
    for _ in range(5):
        by_count.request(request, timeout_s=30)
        pids.append(by_count.pid)
    assert by_count.starts == 3  # requests 1-2, 3-4, 5
    by_count.close()
    by_memory = DecodeWorker(max_rss_bytes=1)  # any resident memory is too much: one request each
    reply, _ = by_memory.request(request, timeout_s=30)
    assert reply["rss"] > 10 << 20 and by_memory.pid is None
    by_memory.request(request, timeout_s=30)
    assert by_memory.starts == 2
    by_memory.close()


def test_batch_goes_on_after_a_hang(media, read_number, monkeypatch):
    hanging = DecodeWorker(env={**os.environ, "CROSSLMM_TEST_WORKER_HANG_ON": "hang"})
    monkeypatch.setattr(sampling_module, "shared_worker", lambda: hanging)
    hang_copy = media.root / "hang here.mp4"
    hang_copy.write_bytes(media["h264"].read_bytes())
    started = time.monotonic()
    rescued = sample_frames(hang_copy, num_frames=4, timeout_s=1.5)  # decord hangs, ffmpeg takes over
    assert rescued.backend == "ffmpeg" and [read_number(f) for f in rescued.array] == rescued.indices.tolist()
    after = sample_frames(media["h264"], num_frames=4, timeout_s=5)  # the next file uses a fresh worker
    assert after.backend == "decord" and hanging.starts == 2
    assert time.monotonic() - started < 15
    hanging.close()


def test_every_backend_hanging_is_a_timeout_error(media, monkeypatch, tmp_path):
    hanging = DecodeWorker(env={**os.environ, "CROSSLMM_TEST_WORKER_HANG_ON": "hang"})
    monkeypatch.setattr(sampling_module, "shared_worker", lambda: hanging)
    # An ffmpeg that probes normally but never finishes a decode (raw video output).
    wrapper = tmp_path / "slow-ffmpeg"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case "$*" in *rawvideo*) exec sleep 60;; esac\n'
        f'exec "{ffmpeg_executable()}" "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CROSSLMM_FFMPEG", str(wrapper))
    ffmpeg_executable.cache_clear()
    try:
        path = media.root / "hang everywhere.mp4"
        path.write_bytes(media["h264"].read_bytes())
        started = time.monotonic()
        with pytest.raises(DecodeTimeoutError) as caught:
            sample_frames(path, num_frames=4, timeout_s=1.0)
        assert str(caught.value) == f"{path}: decoding took too long and was abandoned (over 1 s with decord, ffmpeg)"
        assert time.monotonic() - started < 10
    finally:
        monkeypatch.delenv("CROSSLMM_FFMPEG")
        ffmpeg_executable.cache_clear()
        hanging.close()


def test_worker_errors_do_not_kill_the_worker(media):
    worker = DecodeWorker()
    from crosslmm_cli.video.worker import WorkerFailed

    with pytest.raises(WorkerFailed) as caught:
        worker.request({"path": str(media["h264"]), "width": 112, "height": 32, "options": {"start": 99.0}}, timeout_s=30)
    assert caught.value.kind == "SegmentOutOfRange"
    pid = worker.pid
    worker.request({"path": str(media["h264"]), "width": 112, "height": 32, "options": {"num_frames": 1}}, timeout_s=30)
    assert worker.pid == pid and worker.starts == 1
    worker.close()
