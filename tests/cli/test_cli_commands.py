"""The model-running commands in-process (Typer's CliRunner) on a tiny random CrossLMM checkpoint
and real video files made with ffmpeg. stdout (results) and stderr (notes, errors) apart."""

import json
import re
import subprocess

import pytest
from typer.testing import CliRunner

from cli_fixtures import ffmpeg, make_video
from crosslmm_cli.cli import app
from crosslmm_cli.engine.inference import Engine

runner = CliRunner()
RECORD_FIELDS = {"path", "ok", "task", "text", "duration", "frames", "timestamps", "model", "tokens_per_frame", "elapsed_s"}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    make_video(root / "a.mp4", ("red", 2), ("blue", 2))
    (root / "sub").mkdir()
    make_video(root / "sub" / "b.mp4", ("green", 3))
    make_video(root / "chapters.mp4", ("red", 12), ("blue", 12), ("green", 12))
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    return root


@pytest.fixture
def count_encodes(monkeypatch):
    calls = []
    original = Engine.encode

    def counting(self, frames, *args, **kwargs):
        calls.append(len(frames))
        return original(self, frames, *args, **kwargs)

    monkeypatch.setattr(Engine, "encode", counting)
    return calls


def invoke(*args, model=None, input=None):
    base = ["--model", str(model)] if model else []
    command, rest = args[0], [str(a) for a in args[1:]]
    head = [command] if command not in ("models", "cache") else [command, rest.pop(0)]
    return runner.invoke(app, [*head, *rest, *base, "--max-new-tokens", "8"], input=input)


def test_ask_streams_the_answer_to_stdout_and_notes_to_stderr(videos, tiny_checkpoint):
    result = invoke("ask", videos / "a.mp4", "What happens at the end?", "--frames", "4", model=tiny_checkpoint)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("\n") and result.stdout.strip()
    assert "no GPU found" in result.stderr
    quiet = invoke("ask", videos / "a.mp4", "What happens at the end?", "--frames", "4", "--quiet", model=tiny_checkpoint)
    assert quiet.stderr == "" and quiet.stdout == result.stdout  # greedy: same answer


def test_several_questions_encode_the_video_once_and_the_cache_serves_the_next_run(videos, tiny_checkpoint, count_encodes):
    args = ("ask", videos / "a.mp4", "--json", "-q", "What colour?", "-q", "What happens at the end?", "--frames", "4")
    first = invoke(*args, model=tiny_checkpoint)
    assert first.exit_code == 0, first.output
    records = [json.loads(line) for line in first.stdout.splitlines()]
    assert [r["question"] for r in records] == ["What colour?", "What happens at the end?"]
    for record in records:
        assert RECORD_FIELDS | {"question"} <= set(record) and record["ok"] and record["task"] == "ask"
        assert record["frames"] == 4 and len(record["timestamps"]) == 4 and record["tokens_per_frame"] == 4
        assert record["duration"] == pytest.approx(4.0, abs=0.1) and record["model"] == str(tiny_checkpoint)
    assert count_encodes == [4]  # two questions, one encoding
    second = invoke(*args, model=tiny_checkpoint)
    assert count_encodes == [4]  # from the feature cache: no decoding, no encoding
    assert [json.loads(line)["text"] for line in second.stdout.splitlines()] == [r["text"] for r in records]
    invoke(*args, "--no-cache", model=tiny_checkpoint)
    assert count_encodes == [4, 4]


def test_describe_jsonl_from_stdin_paths_keeps_going_past_bad_input(videos, tiny_checkpoint):
    stdin = f"{videos / 'a.mp4'}\n{videos / 'missing.mp4'}\n{videos / 'broken.mp4'}\n{videos / 'sub'}\n"
    result = invoke("describe", "--jsonl", "-", "--frames", "3", model=tiny_checkpoint, input=stdin)
    assert result.exit_code == 1, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in records] == [str(videos / n) for n in ("a.mp4", "missing.mp4", "broken.mp4", "sub/b.mp4")]
    assert [r["ok"] for r in records] == [True, False, False, True]
    assert set(records[0]) == RECORD_FIELDS
    assert set(records[1]) == {"path", "ok", "task", "error", "elapsed_s"} | ({"hint"} & set(records[1]))
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "missing.mp4" in errors[0] and "broken.mp4" in errors[1]
    assert "2 done, 0 skipped, 2 failed" in result.stderr


def test_describe_text_mode_heads_each_video(videos, tiny_checkpoint):
    result = invoke("describe", videos / "a.mp4", videos / "sub", "--frames", "3", "--quiet", model=tiny_checkpoint)
    assert result.exit_code == 0, result.output
    headers = [line for line in result.stdout.splitlines() if line.startswith("==> ")]
    assert headers == [f"==> {videos / 'a.mp4'} <==", f"==> {videos / 'sub' / 'b.mp4'} <=="]


def test_verbose_reports_frames_tokens_timing_and_memory(videos, tiny_checkpoint):
    result = invoke("ask", videos / "a.mp4", "What?", "--frames", "5", "--verbose", model=tiny_checkpoint)
    assert result.exit_code == 0, result.output
    stats = [line for line in result.stderr.splitlines() if line.startswith("frames 5, visual tokens 21")]
    assert len(stats) == 1
    assert re.search(r"prefill \d+ ms", stats[0]) and "tokens/s" in stats[0] and "peak memory" in stats[0]
    assert re.search(r"a\.mp4: 5 frames \(0\.\d-3\.\d s of 4\.0 s\) decoded", result.stderr)


def test_subtitles_sidecar_is_used_and_reported(videos, tiny_checkpoint, tmp_path):
    video = tmp_path / "talk.mp4"
    video.write_bytes((videos / "a.mp4").read_bytes())
    (tmp_path / "talk.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nHello there\n")
    result = invoke("describe", "--jsonl", video, "--frames", "2", "--verbose", model=tiny_checkpoint)
    assert json.loads(result.stdout)["subtitles"] == str(tmp_path / "talk.srt")
    assert f"talk.mp4: subtitles from {tmp_path / 'talk.srt'} (1 cues)" in result.stderr
    off = invoke("describe", "--jsonl", video, "--frames", "2", "--subtitles", "off", model=tiny_checkpoint)
    assert "subtitles" not in json.loads(off.stdout)


def near(values, truth, tolerance=1.0):
    """Boundaries lie between the last sampled frame before a cut and the first after (frames ~2 s apart)."""
    return len(values) == len(truth) and all(abs(v - t) <= tolerance for v, t in zip(values, truth))


def test_chapters_follow_the_scene_cuts_and_mux_into_the_file(videos, tiny_checkpoint, tmp_path):
    as_json = invoke("chapterize", videos / "chapters.mp4", "--format", "json", model=tiny_checkpoint)
    assert as_json.exit_code == 0, as_json.output
    chapters = json.loads(as_json.stdout)["chapters"]
    assert near([c["start"] for c in chapters], [0, 12, 24]) and chapters[0]["start"] == 0.0
    assert [c["end"] for c in chapters[:-1]] == [c["start"] for c in chapters[1:]]
    assert chapters[-1]["end"] == pytest.approx(36.0, abs=0.1) and all(c["title"] for c in chapters)
    youtube = invoke("chapterize", videos / "chapters.mp4", "--format", "youtube", model=tiny_checkpoint)
    starts = [line.split(" ", 1)[0] for line in youtube.stdout.splitlines()]
    assert starts[0] == "0:00" and near([int(s.split(":")[1]) for s in starts], [0, 12, 24])
    meta = tmp_path / "chapters.txt"
    result = invoke("chapterize", videos / "chapters.mp4", "--format", "ffmetadata", "-o", meta, model=tiny_checkpoint)
    assert result.exit_code == 0 and result.stdout == ""
    out = tmp_path / "with-chapters.mp4"
    subprocess.run([ffmpeg(), "-v", "error", "-i", str(videos / "chapters.mp4"), "-i", str(meta), "-map_metadata", "1",
                    "-codec", "copy", str(out)], check=True)
    probe = subprocess.run([ffmpeg(), "-i", str(out)], capture_output=True, text=True).stderr
    muxed = [float(s) for s in re.findall(r"Chapter #0:\d+: start (\d+\.\d+)", probe)]
    assert muxed == [c["start"] for c in chapters]


def test_youtube_format_refuses_a_video_too_short(videos, tiny_checkpoint):
    result = invoke("chapterize", videos / "a.mp4", "--format", "youtube", model=tiny_checkpoint)
    assert result.exit_code == 1 and result.stdout == ""
    assert "too short for YouTube chapters" in result.stderr


def test_model_and_input_errors_have_their_exit_codes(videos, tmp_path, tiny_checkpoint):
    empty = tmp_path / "empty"
    empty.mkdir()
    bad_model = invoke("ask", videos / "a.mp4", "q", model=empty)
    assert bad_model.exit_code == 3 and bad_model.stdout == ""
    assert bad_model.stderr.strip().splitlines()[-1].startswith(f"error: {empty / 'config.json'}: ")
    not_pulled = invoke("ask", videos / "a.mp4", "q", model="onevision-7b")
    assert not_pulled.exit_code == 3 and "crosslmm models pull onevision-7b" in not_pulled.stderr
    missing = invoke("ask", tmp_path / "nope.mp4", "q", model=tiny_checkpoint)
    assert missing.exit_code == 1 and missing.stdout == ""
    [line] = [ln for ln in missing.stderr.splitlines() if ln.startswith("error:")]
    assert str(tmp_path / "nope.mp4") in line and "Traceback" not in missing.stderr


@pytest.fixture
def prompts(monkeypatch):
    """Every (question, history) the processor builds a prompt for (spied, not replaced)."""
    from crosslmm_cli.modeling.processing import CrossLMMProcessor

    seen = []
    original = CrossLMMProcessor.build_prompt

    def spy(self, question, **kwargs):
        prompt = original(self, question, **kwargs)
        seen.append((question, list(kwargs.get("history") or []), prompt))
        return prompt

    monkeypatch.setattr(CrossLMMProcessor, "build_prompt", spy)
    return seen


def test_chat_keeps_the_conversation_encodes_once_and_resets(videos, tiny_checkpoint, count_encodes, prompts):
    result = invoke("chat", videos / "a.mp4", "--frames", "3", model=tiny_checkpoint,
                    input="What colour?\n\nAnd then?\n/reset\nWhy?\n/exit\nnever asked\n")
    assert result.exit_code == 0, result.output
    assert count_encodes == [3]
    assert [q for q, _, _ in prompts] == ["What colour?", "And then?", "Why?"]
    first_answer = prompts[1][1][0][1]
    assert prompts[0][1] == [] and prompts[1][1] == [("What colour?", first_answer)] and prompts[2][1] == []
    assert first_answer and first_answer in result.stdout
    assert "(conversation forgotten; the video stays encoded)" in result.stderr


def test_same_seed_same_sampled_answer_through_the_command(videos, tiny_checkpoint):
    def sampled(seed):
        result = invoke("ask", videos / "a.mp4", "What?", "--frames", "2", "--temperature", "1.2", "--seed", seed,
                        "--quiet", model=tiny_checkpoint)
        return result.stdout

    assert sampled(11) == sampled(11) != sampled(12)


def test_describe_prompt_option_replaces_the_instruction(videos, tiny_checkpoint, prompts):
    invoke("describe", videos / "a.mp4", "--prompt", "List the colours.", "--frames", "2", "--quiet", model=tiny_checkpoint)
    invoke("batch", videos / "a.mp4", "--prompt", "Count the shapes.", "--frames", "2", "--quiet", model=tiny_checkpoint)
    assert [q for q, _, _ in prompts] == ["List the colours.", "Count the shapes."]


def test_batch_output_resumes_and_retries_failed_inputs(videos, tiny_checkpoint, tmp_path):
    out = tmp_path / "r.jsonl"
    args = ("batch", videos / "a.mp4", videos / "missing.mp4", "--task", "ask", "--question", "What?", "-o", out,
            "--frames", "2")
    first = invoke(*args, model=tiny_checkpoint)
    assert first.exit_code == 1 and first.stdout == ""
    assert "1 done, 0 skipped, 1 failed" in first.stderr
    second = invoke(*args, model=tiny_checkpoint)
    assert second.exit_code == 1 and "0 done, 1 skipped, 0 failed, 1 failed earlier" in second.stderr
    (videos / "missing.mp4").write_bytes((videos / "a.mp4").read_bytes())
    try:
        third = invoke(*args, "--retry-failed", model=tiny_checkpoint)
    finally:
        (videos / "missing.mp4").unlink()
    assert third.exit_code == 0 and "1 done, 1 skipped, 0 failed" in third.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["path"], r["ok"]) for r in records] == [(str(videos / "a.mp4"), True), (str(videos / "missing.mp4"), True)]
    assert all(r["question"] == "What?" and r["task"] == "ask" for r in records)


def test_batch_chapterize_records_carry_chapters(videos, tiny_checkpoint):
    result = invoke("batch", videos / "chapters.mp4", "--task", "chapterize", model=tiny_checkpoint)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["ok"] and near([c["start"] for c in record["chapters"]], [0, 12, 24])


def test_out_of_memory_in_batch_is_retried_once_with_half_the_frames(videos, tiny_checkpoint, monkeypatch):
    import torch

    original = Engine.encode

    def tight_memory(self, frames, *args, **kwargs):
        if len(frames) > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return original(self, frames, *args, **kwargs)

    monkeypatch.setattr(Engine, "encode", tight_memory)
    ok = invoke("batch", videos / "a.mp4", "--frames", "8", "--no-cache", model=tiny_checkpoint)
    record = json.loads(ok.stdout)
    assert ok.exit_code == 0 and record["ok"] and record["frames"] == 4 and record["retried_after_oom"]
    assert "out of memory with 8 frames; retrying with 4" in ok.stderr
    failed = invoke("batch", videos / "a.mp4", "--frames", "16", "--no-cache", model=tiny_checkpoint)
    record = json.loads(failed.stdout)
    assert failed.exit_code == 1 and not record["ok"] and record["hint"] == "retry with fewer frames, e.g. --frames 4"
    single = invoke("ask", videos / "a.mp4", "q", "--frames", "8", "--no-cache", model=tiny_checkpoint)
    assert single.exit_code == 1
    assert single.stderr.strip().splitlines()[-1].endswith("(hint: retry with fewer frames, e.g. --frames 4)")


def test_segment_flags_limit_the_frames_and_the_prompt_says_so(videos, tiny_checkpoint, prompts):
    result = invoke("ask", videos / "chapters.mp4", "--json", "What happens at 0:20?", "--start", "0:10", "--end", "30",
                    "--frames", "4", model=tiny_checkpoint)
    record = json.loads(result.stdout)
    assert len(record["timestamps"]) == 4 and all(10 <= t <= 30 for t in record["timestamps"])
    assert record["duration"] == pytest.approx(36.0, abs=0.1)
    [(_, _, prompt)] = prompts
    assert "The video lasts for 36.00 seconds" in prompt and "between 10.00s and 30.00s" in prompt
    assert ",".join(f"{t:.2f}s" for t in record["timestamps"]) in prompt and "What happens at 0:20?" in prompt


def test_info_prints_the_probe(videos):
    result = runner.invoke(app, ["info", str(videos / "chapters.mp4"), "--json"])
    assert result.exit_code == 0, result.output
    probe = json.loads(result.stdout)
    assert probe["duration"] == pytest.approx(36.0, abs=0.1) and (probe["width"], probe["height"]) == (64, 48)
    assert probe["codec"] == "h264" and probe["subtitles"] is None
    text = runner.invoke(app, ["info", str(videos / "chapters.mp4")]).stdout
    assert re.search(r"^duration +36$", text, re.M) and re.search(r"^subtitles +none$", text, re.M)
    broken = runner.invoke(app, ["info", str(videos / "broken.mp4")])
    assert broken.exit_code == 1 and broken.stdout == "" and "broken.mp4" in broken.stderr


def test_info_on_a_truncated_file_says_what_the_decoder_finds(tmp_path):
    """Issue 14, item 7: info reported the header's 10.5 s and no warning; describe saw 5.6 s, partial."""
    from crosslmm_cli.video import sample_frames

    whole = tmp_path / "whole.mp4"  # the index first (faststart), then 8 s of pictures that do not compress away
    subprocess.run([ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=8", "-c:v",
                    "libx264", "-preset", "veryfast", "-g", "25", "-movflags", "+faststart", str(whole)], check=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    result = runner.invoke(app, ["info", str(cut), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    decoded = sample_frames(cut, num_frames=4, backend="ffmpeg")
    assert decoded.partial and shown["partial"] is True
    assert shown["duration"] == pytest.approx(decoded.info.duration) and shown["duration"] < 6.0
    assert shown["num_frames"] == decoded.info.num_frames
    [warning] = result.stderr.strip().splitlines()
    assert warning.startswith(f"warning: {cut}: truncated or corrupt; only the first ") and "of 8.0 s" in warning
    healthy = json.loads(runner.invoke(app, ["info", str(whole), "--json"]).stdout)
    assert healthy["partial"] is False and healthy["duration"] == pytest.approx(8.0, abs=0.1)


def test_model_comes_from_flag_then_environment_then_settings(videos, tiny_checkpoint, tmp_path, monkeypatch):
    from crosslmm_cli.checkpoints.settings import settings_path

    other = tmp_path / "other-ckpt"
    other.symlink_to(tiny_checkpoint, target_is_directory=True)

    def model_used(*extra):
        result = runner.invoke(app, ["describe", "--jsonl", str(videos / "a.mp4"), "--frames", "2",
                                     "--max-new-tokens", "2", *extra])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["model"]

    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(f'model = "{other}"\n')
    assert model_used() == str(other)
    monkeypatch.setenv("CROSSLMM_MODEL", str(tiny_checkpoint))
    assert model_used() == str(tiny_checkpoint)
    assert model_used("--model", str(other)) == str(other)


def test_backend_flag_chooses_the_decoder_and_bad_names_are_usage_errors(videos, tiny_checkpoint, monkeypatch):
    from crosslmm_cli import video

    used = []
    original = video.sample_frames

    def recording(path, **kwargs):
        frames = original(path, **kwargs)
        used.append((kwargs.get("backend"), frames.backend))
        return frames

    monkeypatch.setattr(video, "sample_frames", recording)
    for backend in ("ffmpeg", "decord"):
        result = invoke("ask", videos / "a.mp4", "What colour?", "--frames", "4", "--no-cache", "--backend", backend,
                        model=tiny_checkpoint)
        assert result.exit_code == 0, result.output
        assert used[-1] == (backend, backend)
    bad = invoke("ask", videos / "a.mp4", "What colour?", "--backend", "gstreamer", model=tiny_checkpoint)
    assert bad.exit_code == 2 and "--backend must be auto, decord or ffmpeg, not 'gstreamer'" in bad.stderr
