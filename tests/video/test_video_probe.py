"""probe(): facts from the header, and the `ffmpeg -i` parser on real and canned reports."""

import numpy as np
import pytest

from crosslmm_cli.video import probe
from crosslmm_cli.video.packet_index import frame_index_from_packets, gop_is_closed, parse_framecrc
from crosslmm_cli.video.probing import _duration_and_start, _frame_rate, _input_section, _rotation, _streams, probe_file


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("h264", dict(duration=10.0, num_frames=300, fps=30.0, width=112, height=32, codec="h264", container="mp4")),
        ("h264_mkv", dict(duration=10.0, num_frames=300, fps=30.0, codec="h264", container="matroska")),
        ("h264_mov", dict(duration=10.0, codec="h264", container="mov")),
        ("vp9_webm", dict(duration=10.0, codec="vp9", container="webm")),
        ("hevc_open", dict(codec="hevc", container="matroska")),
        ("mpeg4_avi", dict(codec="mpeg4", container="avi")),
        ("mpeg2_ts", dict(codec="mpeg2video", container="mpegts")),
        ("one_frame", dict(num_frames=1, fps=25.0)),
        ("rotated", dict(width=32, height=64, rotation=90)),
        ("two_hours", dict(duration=7200.0, num_frames=7200, fps=1.0)),
        ("vfr", dict(num_frames=30)),
    ],
)
def test_probe_reads_the_header(media, fixture, expected):
    info = probe(media[fixture])
    for name, value in expected.items():
        assert getattr(info, name) == pytest.approx(value) if isinstance(value, float) else getattr(info, name) == value, name
    assert not info.is_image and info.path == str(media[fixture])


def test_probe_counts_frames_exactly_when_it_read_every_packet(media):
    assert probe(media["h264"]).num_frames_exact  # 300 packets < the probe's 500
    long = probe(media["two_hours"])
    assert not long.num_frames_exact and long.describe().startswith("7200.0 s, ~7200 frames at 1 fps")


def test_probe_does_not_decode(media, monkeypatch):
    # The probe is a single ffmpeg run that copies packets (-c copy): no decoder, no filter.
    from crosslmm_cli.video import probing

    seen = []
    real = probing.run_ffmpeg
    monkeypatch.setattr(probing, "run_ffmpeg", lambda args, **kw: seen.append(args) or real(args, **kw))
    probe(media["large"])
    assert len(seen) == 1 and seen[0][seen[0].index("-c") + 1] == "copy" and "-vf" not in seen[0]


def test_index_from_packets_is_in_display_order(media):
    probed = probe_file(str(media["h264"]))
    index = frame_index_from_packets(probed.packets)
    np.testing.assert_allclose(index.pts, np.arange(300) / 30, atol=1e-6)
    assert np.flatnonzero(index.keyframe).tolist() == list(range(0, 300, 30))
    assert index.end == pytest.approx(10.0)
    assert gop_is_closed(probed.packets)
    assert not gop_is_closed(probe_file(str(media["hevc_open"])).packets)


OLD_FFMPEG_REPORT = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/videos/IMG_0001.MOV':
  Metadata:
    creation_time   : 2019-06-01T10:00:00.000000Z
  Duration: 00:01:02.50, start: 0.000000, bitrate: 17000 kb/s
    Stream #0:0(und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709), 1920x1080, 16950 kb/s, 29.97 fps, 29.97 tbr, 600 tbn, 1200 tbc (default)
    Metadata:
      rotate          : 90
      handler_name    : Core Media Video
    Side data:
      displaymatrix: rotation of -90.00 degrees
    Stream #0:1(und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 96 kb/s (default)
    Stream #0:2(und): Video: mjpeg (Baseline), yuvj420p(pc, bt470bg/unknown/unknown), 320x240, 90k tbr, 90k tbn (attached pic)
Stream mapping:
"""


def test_parser_handles_older_ffmpeg_reports():
    header = _input_section(OLD_FFMPEG_REPORT)
    streams = _streams(header)
    assert [(s.index, s.kind) for s in streams] == [(0, "Video"), (1, "Audio"), (2, "Video")]
    assert "(attached pic)" in streams[2].description
    assert _rotation(streams[0].block) == 90  # display matrix -90 = turn 90 degrees clockwise
    assert _rotation(streams[1].block) == 0
    assert _rotation("    Metadata:\n      rotate          : 270\n") == 270  # tag only (no side data)
    assert _rotation("      Display Matrix: rotation of 90.00 degrees") == 270
    assert _frame_rate(streams[0].description) == pytest.approx(29.97)
    assert _frame_rate("gif, bgra, 64x48, 90k tbr, 90k tbn") == 90000.0
    assert _duration_and_start(header) == (62.5, 0.0)
    assert _duration_and_start("  Duration: N/A, start: 1.433333, bitrate: N/A") == (None, 1.433333)


def test_framecrc_parser_reads_keyframes_discards_and_missing_times():
    text = """#tb 0: 1/1000
0,        -67,          0,       33,     1463, 0x6ca6647b
0,        -34,        133,       33,      237, 0xc7ea7385, F=0x0
0,          0,         67,       33,       19, 0x36320750, F=0x0, S=1, Skip Samples, 10, 0x0
0,         33,         33,       33,       19, 0x36320750, F=0x4
0,         67,  NOPTS,       33,       19, 0x36320750, F=0x1
"""
    packets = parse_framecrc(text)
    assert packets.time_base == 0.001 and len(packets) == 5
    assert packets.flags.tolist() == [1, 0, 0, 4, 1]
    index = frame_index_from_packets(packets)
    # The discarded packet (F=0x4) is never shown; the NOPTS one falls back to its dts (67), which
    # repeats a shown time and so is the same displayed frame.
    np.testing.assert_allclose(index.pts, [0.0, 0.067, 0.133])
    assert index.keyframe.tolist() == [True, False, False]
    assert index.end == pytest.approx(0.166)
    assert not gop_is_closed(packets)
