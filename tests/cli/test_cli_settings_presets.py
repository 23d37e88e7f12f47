import json

import pytest

from crosslmm_cli.errors import ModelLoadError, ModelNotFoundError, OfflineError, SettingsError, error_line
from crosslmm_cli.checkpoints.store import install_converted, local_path, pull, remove, resolve_model
from crosslmm_cli.checkpoints.presets import get_preset, load_presets, user_presets_dir
from crosslmm_cli.checkpoints.settings import ModelChoice, Settings, choose_model, load_settings, settings_path


def write_settings(text):
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_model_choice_order_flag_env_settings_demo(monkeypatch):
    """Issue 14: the settings file beat $CROSSLMM_MODEL, the reverse of the usual order."""
    assert choose_model(None, Settings()) == ModelChoice("demo", "default")
    write_settings('model = "from-settings"\ncache_max_gb = 2\n')
    settings = load_settings()
    assert settings.cache_max_gb == 2
    assert choose_model(None, settings) == ModelChoice("from-settings", "settings")
    monkeypatch.setenv("CROSSLMM_MODEL", "from-env")
    assert choose_model(None, settings) == ModelChoice("from-env", "env")
    assert choose_model("from-flag", settings) == ModelChoice("from-flag", "flag")


@pytest.mark.parametrize(
    ("text", "match"),
    [("modle = 'x'", "unknown setting 'modle'"), ("quantize = '3bit'", "quantize must be"),
     ("cache_max_gb = 'big'", "wrong type"), ("model = ", "not valid TOML")],
)
def test_bad_settings_name_the_file_and_the_problem(text, match):
    path = write_settings(text)
    with pytest.raises(SettingsError, match=match) as info:
        load_settings()
    assert str(path) in str(info.value)


def test_bundled_presets_are_data_files_with_the_required_fields():
    presets = load_presets()
    assert {"demo", "onevision-0.5b", "onevision-7b"} <= set(presets)
    assert presets["demo"].is_bundled
    for name in ("onevision-0.5b", "onevision-7b"):
        preset = presets[name]
        assert preset.convert == "llava_onevision" and preset.repo.startswith("llava-hf/llava-onevision-qwen2-")
        assert "untrained" in preset.notes or "gates start closed" in preset.notes
        assert preset.license and preset.download_size and preset.default_frames >= 1


def write_user_preset(name, **fields):
    directory = user_presets_dir()
    directory.mkdir(parents=True, exist_ok=True)
    body = {"name": name, "description": "test", **fields}
    (directory / f"{name}.toml").write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in body.items()))


def test_user_presets_add_a_native_checkpoint_slot_and_are_validated():
    write_user_preset("native", convert="none", repo="someone/crosslmm-2b", revision="abc")
    assert get_preset("native").repo == "someone/crosslmm-2b"
    write_user_preset("broken", convert="magic", repo="a/b")
    with pytest.raises(SettingsError, match="convert must be one of"):
        load_presets()


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ModelLoadError, match="unknown model preset 'nope'") as info:
        get_preset("nope")
    assert "onevision-7b" in info.value.hint


def test_resolving_models(tmp_path, monkeypatch):
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    assert resolve_model(ModelChoice(str(checkpoint), "flag")).location == str(checkpoint)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "onevision-0.5b").mkdir()  # a folder named like a preset does not shadow it
    with pytest.raises(ModelNotFoundError, match="not downloaded yet"):
        resolve_model(ModelChoice("onevision-0.5b", "flag"))
    assert resolve_model(ModelChoice("./onevision-0.5b", "flag")).location == "onevision-0.5b"
    with pytest.raises(ModelNotFoundError, match="not downloaded yet") as info:
        resolve_model(ModelChoice("onevision-0.5b", "flag"))
    assert info.value.hint == "run `crosslmm models pull onevision-0.5b`" and info.value.exit_code == 3
    assert resolve_model(ModelChoice("org/some-model", "env")).location == "org/some-model"
    with pytest.raises(ModelLoadError, match="not a preset, a checkpoint directory or a hub id"):
        resolve_model(ModelChoice("./no/such/dir", "flag"))


def test_pull_offline_says_what_to_do():
    with pytest.raises(OfflineError) as info:
        pull(get_preset("onevision-0.5b"))
    line = error_line(info.value)
    assert line.startswith("error: llava-hf/llava-onevision-qwen2-0.5b-ov-hf: not in the local cache")
    assert "hint: connect to the network" in line
    assert info.value.exit_code == 3


def fake_llava_snapshot(tmp_path, name="snap"):
    source = tmp_path / name
    source.mkdir()
    (source / "config.json").write_text('{"model_type": "llava_onevision"}')
    return source


def test_conversion_is_cached_atomic_and_removable(tmp_path):
    preset = get_preset("onevision-0.5b")
    calls = []

    def converter(src, dst):
        calls.append(src)
        dst.mkdir()
        (dst / "config.json").write_text('{"model_type": "crosslmm"}')

    source = fake_llava_snapshot(tmp_path)
    target = install_converted(preset, source, converter=converter)
    assert (target / "config.json").is_file() and local_path(preset) == target
    assert install_converted(preset, source, converter=converter) == target
    assert len(calls) == 1  # the second pull found the finished conversion
    assert resolve_model(ModelChoice("onevision-0.5b", "flag")).location == str(target)

    def crashing(src, dst):
        dst.mkdir()
        (dst / "half.safetensors").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        install_converted(preset, fake_llava_snapshot(tmp_path, "snap2"), converter=crashing)
    assert local_path(preset) == target and (target / "config.json").is_file()  # old one intact
    assert not list(target.parent.glob(".*partial*"))
    assert remove(preset) > 0 and local_path(preset) is None


def test_bundled_models_are_found_in_the_installed_wheel_layout(tmp_path):
    """The wheel carries models/ as crosslmm_cli/_models (pyproject's force-include)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    import crosslmm_cli

    package = Path(crosslmm_cli.__file__).parent
    site = tmp_path / "site-packages"
    shutil.copytree(package, site / "crosslmm_cli", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(package.parent / "models", site / "crosslmm_cli" / "_models")
    code = ("import json; from crosslmm_cli.checkpoints.presets import bundled_models_dir, load_presets; "
            "print(bundled_models_dir()); print(json.dumps(sorted(load_presets())))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, cwd=tmp_path).stdout
    found, names = out.splitlines()
    assert found == str(site / "crosslmm_cli" / "_models")
    assert {"demo", "onevision-0.5b", "onevision-7b"} <= set(json.loads(names))
