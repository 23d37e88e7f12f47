import subprocess

import pytest

from cli_fixtures import ffmpeg, make_video
from crosslmm_cli.errors import InputError
from crosslmm_cli.video.subtitles import find_sidecar, load_subtitles, parse_subtitles, read_subtitle_file, select_cues

SRT = """1
00:00:01,000 --> 00:00:02,500
<i>Hello</i> there

2
00:01:02,000 --> 00:01:04,000 X1:10
General
Kenobi!
"""

VTT = """WEBVTT
Kind: captions

NOTE a comment

intro
00:01.000 --> 00:02.000 align:start
<v Roger>Hi <c.yellow>you</c>

00:02.000 --> 00:03.000
<v Roger>Hi <c.yellow>you</c>

1:00:00.250 --> 1:00:01.000
late
"""


def test_srt_and_vtt_parse_to_the_same_kind_of_cues():
    srt = parse_subtitles(SRT)
    assert [(c.start, c.end, c.text) for c in srt] == [(1.0, 2.5, "Hello there"), (62.0, 64.0, "General Kenobi!")]
    vtt = parse_subtitles(VTT)
    assert [(c.start, c.end, c.text) for c in vtt] == [(1.0, 3.0, "Hi you"), (3600.25, 3601.0, "late")]


def test_select_cues_keeps_those_overlapping_the_segment_and_thins_long_ones():
    cues = parse_subtitles(SRT)
    assert select_cues(cues, 2.0, 60.0) == [(1.0, 2.5, "Hello there")]
    many = parse_subtitles("".join(f"{k}\n00:00:{k:02d},000 --> 00:00:{k:02d},500\n{'word ' * 20}\n\n" for k in range(50)))
    thinned = select_cues(many, 0, 60, max_chars=500)
    assert 1 <= len(thinned) <= 5 and thinned[0][0] == 0.0


def test_sidecar_lookup_prefers_exact_then_english(tmp_path):
    video = tmp_path / "movie.mp4"
    video.write_bytes(b"")
    (tmp_path / "movie.de.srt").write_text(SRT)
    (tmp_path / "movie.en.vtt").write_text(VTT)
    (tmp_path / "other.srt").write_text(SRT)
    assert find_sidecar(video) == tmp_path / "movie.en.vtt"
    (tmp_path / "movie.srt").write_text(SRT)
    assert find_sidecar(video) == tmp_path / "movie.srt"


def test_explicit_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.srt"
    bad.write_text("this is not a subtitle file")
    with pytest.raises(InputError, match="bad.srt: no subtitle cues"):
        read_subtitle_file(bad)
    with pytest.raises(InputError, match="missing.srt: cannot read"):
        load_subtitles(tmp_path / "v.mp4", str(tmp_path / "missing.srt"))
    latin = tmp_path / "latin.srt"
    latin.write_bytes("1\n00:00:01,000 --> 00:00:02,000\nCaf\xe9\n".encode("cp1252"))
    assert read_subtitle_file(latin).cues[0].text == "Café"


def test_embedded_text_track_is_extracted_with_ffmpeg(tmp_path):
    plain = make_video(tmp_path / "plain.mp4", ("red", 3))
    srt = tmp_path / "track.srt"
    srt.write_text(SRT)
    muxed = tmp_path / "muxed.mkv"
    subprocess.run([ffmpeg(), "-v", "error", "-i", str(plain), "-i", str(srt), "-map", "0", "-map", "1",
                    "-c", "copy", str(muxed)], check=True)
    srt.unlink()
    subs = load_subtitles(muxed, "auto", ffmpeg=ffmpeg())
    assert subs is not None and "embedded" in subs.source
    assert [c.text for c in subs.cues] == ["Hello there", "General Kenobi!"]
    assert load_subtitles(plain, "auto", ffmpeg=ffmpeg()) is None
    assert load_subtitles(muxed, "off", ffmpeg=ffmpeg()) is None
