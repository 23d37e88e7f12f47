"""Every bad input fails with a named VideoError and a one-line message naming file and cause."""

import os
import re
import socket
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest

from crosslmm_cli import video
from crosslmm_cli.video import (
    AudioOnlyError,
    BadDimensionsError,
    CorruptVideoError,
    EmptyVideoError,
    IsADirectoryVideoError,
    NotAVideoError,
    RemoteInputError,
    SegmentError,
    UnsupportedCodecError,
    VideoError,
    VideoNotFoundError,
    VideoPermissionError,
    probe,
    sample_frames,
)

CASES = [
    ("text", NotAVideoError, "is not a video or image file (it is a text file)"),
    ("text_as_mp4", NotAVideoError, "is not a video or image file (it is a text file)"),
    ("random", NotAVideoError, "is not a video or image file (ffmpeg found no known format in its bytes)"),
    ("audio_only", AudioOnlyError, "has no video stream (audio only)"),
    ("empty", EmptyVideoError, "is empty or has zero duration (0 bytes)"),
    ("zero_frames", EmptyVideoError, "is empty or has zero duration (the container holds no streams)"),
    (
        "truncated_no_index",
        CorruptVideoError,
        "is truncated or corrupt: no frame could be decoded "
        "(the mp4 index (moov atom) is missing: an unfinished recording or download)",
    ),
    ("unknown_codec", UnsupportedCodecError, "uses a video codec that this ffmpeg cannot decode (codec tag ZZZZ)"),
    ("huge_y4m", BadDimensionsError, "has absurd frame dimensions (100000x100000)"),
    ("wide_y4m", BadDimensionsError, "has absurd frame dimensions (30000x8; the limit is 16384 pixels per side)"),
]


@pytest.mark.parametrize(("fixture", "error", "cause"), CASES, ids=[case[0] for case in CASES])
@pytest.mark.parametrize("entry", ["probe", "sample_frames"])
def test_bad_file_raises_named_error_with_one_line_message(media, fixture, error, cause, entry):
    path = media[fixture]
    call = probe if entry == "probe" else sample_frames
    with pytest.raises(error) as caught:
        call(path)
    assert str(caught.value) == f"{path}: {cause}"
    assert "\n" not in str(caught.value)
    assert caught.value.path == str(path)


@pytest.mark.parametrize("backend", ["ffmpeg", "decord"])
def test_bad_file_fails_the_same_way_whatever_the_backend(media, backend):
    for fixture, error, cause in CASES:
        with pytest.raises(error, match="^" + re.escape(f"{media[fixture]}: {cause}") + "$"):
            sample_frames(media[fixture], backend=backend)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.mp4"
    for call in (probe, sample_frames):
        with pytest.raises(VideoNotFoundError) as caught:
            call(path)
        assert str(caught.value) == f"{path}: no such file"
        assert isinstance(caught.value, FileNotFoundError)


def test_directory(tmp_path):
    for call in (probe, sample_frames):
        with pytest.raises(IsADirectoryVideoError) as caught:
            call(tmp_path)
        assert str(caught.value) == f"{tmp_path}: is a directory, not a video file"


@pytest.mark.parametrize(
    "url",
    ["https://example.com/cat.mp4", "http://host/v.mkv", "rtsp://camera/stream", "s3://bucket/key.mp4", "ftp:old.avi"],
)
def test_urls_are_refused_before_any_network_access(url):
    for call in (probe, sample_frames):
        with pytest.raises(RemoteInputError) as caught:
            call(url)
        assert str(caught.value) == f"{url}: is a URL; crosslmm reads local files only (download it first)"


def test_file_url_is_a_local_path(media):
    path = media["h264"]
    assert probe(f"file://{path}").num_frames == 300


def test_fifo_is_not_read(tmp_path):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(NotAVideoError) as caught:
        probe(fifo)  # opening a FIFO without a writer would block forever
    assert str(caught.value) == f"{fifo}: is not a video or image file (not a regular file)"


def test_socket_is_not_read(tmp_path):
    path = Path(tempfile.mkdtemp(dir="/tmp")) / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(NotAVideoError, match="not a regular file"):
            probe(path)
    finally:
        server.close()
        path.unlink()
        path.parent.rmdir()


def _check_as(uid: int, path: Path) -> str:
    """Run the path checks in a child process with another user id; return the error text."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop privileges, report, exit without running pytest's teardown
        try:
            os.close(read)
            os.setgid(uid)
            os.setuid(uid)
            try:
                probe(path)
                message = "no error"
            except VideoError as exc:
                message = f"{type(exc).__name__}|{exc}"
            os.write(write, message.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(pid, 0)
    return text


def test_permission_denied(media):
    folder = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        folder.chmod(0o755)
        path = folder / "private.mp4"
        path.write_bytes(media["h264"].read_bytes())
        path.chmod(0)
        if os.geteuid() == 0:  # root reads anything: check as "nobody" in a forked child
            result = _check_as(65534, path)
        else:
            try:
                probe(path)
                result = "no error"
            except VideoError as exc:
                result = f"{type(exc).__name__}|{exc}"
        assert result == f"VideoPermissionError|{path}: permission denied (not readable by this user)"
        assert issubclass(VideoPermissionError, PermissionError)
    finally:
        for child in folder.iterdir():
            child.chmod(stat.S_IWUSR | stat.S_IRUSR)
            child.unlink()
        folder.rmdir()


@pytest.mark.decord
def test_start_past_the_end(media):
    path = media["h264"]
    for backend in ("ffmpeg", "decord"):
        with pytest.raises(SegmentError) as caught:
            sample_frames(path, start=12.0, backend=backend)
        assert str(caught.value) == f"{path}: the requested time segment is outside the video (start 12 s is past the end (10.000 s))"


def test_truncated_file_decodes_what_it_can_and_says_so(media):
    for fixture in ("truncated", "truncated_mkv"):
        path = media[fixture]
        info = probe(path)
        assert info.duration == 8.0  # the header still claims the full length
        for backend in ("auto", "ffmpeg"):
            frames = sample_frames(path, num_frames=8, backend=backend)
            assert frames.partial
            assert frames.warning == f"{path}: truncated or corrupt; only the first 4.0 s of 8.0 s could be read"
            assert len(frames) == 8 and frames.timestamps.max() < 4.0
            assert frames.info.duration == pytest.approx(4.0, abs=0.05)


def test_damaged_middle_decodes_the_rest_and_says_so(media, tmp_path):
    path = tmp_path / "bit rot.mp4"
    data = bytearray(media["large"].read_bytes())
    middle = len(data) // 2
    data[middle : middle + len(data) // 8] = np.random.default_rng(1).integers(0, 256, len(data) // 8, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    frames = sample_frames(path, num_frames=16)
    assert frames.backend == "ffmpeg"  # decord complained, so auto fell back
    assert frames.partial and frames.warning.startswith(f"{path}: truncated or corrupt; ")
    assert 1 <= len(frames) <= 16


def test_errors_are_all_video_errors():
    names = [name for name in video.__all__ if name.endswith("Error")]
    assert len(names) == 14
    for name in names:
        assert issubclass(getattr(video, name), VideoError)


def test_ffmpegs_report_of_the_input_is_not_damage_even_when_the_path_says_truncated():
    """A file under a folder named `..._truncated_...` was reported damaged: the `Input #0 ... from 'PATH'`
    line and the metadata under it echo names, not decoder complaints."""
    from crosslmm_cli.video.ffmpeg_binary import problem_lines

    log = (
        "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from '/tmp/test_truncated_file_0/whole.mp4':\n"
        "  Metadata:\n"
        "    title           : a corrupt recording\n"
        "  Duration: 00:00:08.00, start: 0.000000, bitrate: 300 kb/s\n"
        "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55] stream 0, offset 0x1f2c: partial file\n"
        "[h264 @ 0x56] Invalid NAL unit size (276 > 216).\n"
    )
    assert problem_lines(log) == [
        "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55] stream 0, offset 0x1f2c: partial file",
        "[h264 @ 0x56] Invalid NAL unit size (276 > 216).",
    ]
