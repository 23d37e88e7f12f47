"""Commands that need no model: models, cache, usage errors. stdout and stderr asserted separately."""

import re

import pytest
import torch
from typer.testing import CliRunner

from crosslmm_cli.cli import app
from crosslmm_cli.engine.feature_cache import CacheKey, FeatureCache
from crosslmm_cli.checkpoints.store import install_converted, installed_dir
from crosslmm_cli.checkpoints.presets import get_preset
from crosslmm_cli.checkpoints.settings import cache_dir, settings_path

runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def test_models_list_shows_presets_and_their_state():
    result = invoke("models", "list")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert "not pulled (1.8 GB)" in lines["onevision-0.5b"]
    assert "not pulled (16 GB)" in lines["onevision-7b"]
    verbose = invoke("models", "list", "--verbose").stdout
    assert "llava-hf/llava-onevision-qwen2-7b-ov-hf@main (convert: llava_onevision)" in verbose
    assert "gates start closed" in verbose and "your own presets go in" in verbose


def test_models_path_and_rm_of_a_pulled_model(tmp_path):
    source = tmp_path / "snapshot"
    source.mkdir()

    def converter(src, dst):
        dst.mkdir()
        (dst / "config.json").write_text("{}")
        (dst / "model.safetensors").write_bytes(b"\0" * 4096)

    missing = invoke("models", "path", "onevision-0.5b")
    assert missing.exit_code == 3 and missing.stdout == ""
    assert missing.stderr.strip() == (
        "error: model 'onevision-0.5b' is not on disk (hint: run `crosslmm models pull onevision-0.5b`)"
    )
    install_converted(get_preset("onevision-0.5b"), source, converter=converter)
    found = invoke("models", "path", "onevision-0.5b")
    assert found.exit_code == 0 and found.stdout.strip() == str(installed_dir("onevision-0.5b"))
    assert re.search(r"onevision-0.5b +on disk, 4\.\d KB", invoke("models", "list").stdout)
    removed = invoke("models", "rm", "onevision-0.5b")
    assert removed.exit_code == 0 and removed.stdout.startswith("freed 4.")
    assert not installed_dir("onevision-0.5b").exists()


def test_models_pull_without_network_exits_3_with_advice():
    result = invoke("models", "pull", "onevision-7b")
    assert result.exit_code == 3 and result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: llava-hf/llava-onevision-qwen2-7b-ov-hf: not in the local cache")
    assert "(hint: connect to the network" in last


def test_unknown_preset_and_bad_settings_exit_codes():
    result = invoke("models", "path", "nope")
    assert result.exit_code == 3 and "unknown model preset 'nope'" in result.stderr
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text("cache_max_gb = -1\n")
    bad = invoke("cache", "info")
    assert bad.exit_code == 2 and bad.stderr.startswith(f"error: {settings_path()}: cache_max_gb must be")


def test_cache_info_and_clear(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    cache = FeatureCache(cache_dir() / "features", max_bytes=10**9)
    cache.put(CacheKey.for_video(video, {"num_frames": 4}, "m"), torch.zeros(4, 16, 8), [0, 1, 2, 3], 4.0)
    info = invoke("cache", "info")
    assert info.exit_code == 0
    assert f"path     {cache_dir() / 'features'}" in info.stdout and "entries  1" in info.stdout
    assert "of 10.0 GB" in info.stdout
    cleared = invoke("cache", "clear")
    assert cleared.exit_code == 0 and cleared.stdout.startswith("freed ")
    assert "entries  0" in invoke("cache", "info").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "v.mp4", "q", "--frames", "4", "--fps", "1"], "error: --frames and --fps exclude each other"),
        (["ask", "v.mp4", "q", "--start", "1:xx"], "error: not a time: '1:xx'"),
        (["ask", "v.mp4", "q", "--start", "20", "--end", "0:10"], "error: --end (10 s) must come after --start (20 s)"),
        (["ask", "v.mp4", "q", "--quantize", "3bit"], "error: --quantize must be auto, 4bit, 8bit or none, not '3bit'"),
        (["ask", "v.mp4", "q", "--quiet", "--verbose"], "error: --quiet and --verbose exclude each other"),
        (["ask", "v.mp4", "q", "--device", "gpu"], "error: --device must be auto, cpu, cuda or cuda:N, not 'gpu'"),
        (["ask", "v.mp4"], "error: no question given"),
        (["batch", "x", "--task", "summarize"], "error: --task must be one of describe, ask, chapterize"),
        (["batch", "x", "--task", "ask"], "error: --task ask needs --question"),
        (["chapterize", "v.mp4", "--format", "srt"], "error: --format must be one of text, youtube, json, vtt, ffmetadata"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines()[0].startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1


def test_typer_usage_errors_also_exit_2():
    result = invoke("ask", "v.mp4", "q", "--frames", "zero")
    assert result.exit_code == 2 and "--frames" in result.stderr


def test_describe_with_no_videos_found_is_a_usage_error(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    result = invoke("describe", tmp_path)
    assert result.exit_code == 2 and result.stderr.startswith("error: no videos found in")


def test_version_and_help():
    version = invoke("--version")
    assert version.exit_code == 0 and version.stdout.startswith("crosslmm ")
    help_text = invoke("--help").stdout
    for command in ("ask", "chat", "describe", "chapterize", "batch", "info", "models", "convert", "cache"):
        assert command in help_text
