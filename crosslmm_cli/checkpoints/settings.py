"""Where crosslmm keeps its state, and the user's settings file.

Three directories, each overridable by an environment variable so tests and CI runs stay
isolated: config (`settings.toml`, user presets), cache (video features) and data (converted
models). The settings file is TOML; unknown keys are an error, not silently ignored.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from crosslmm_cli.checkpoints.devices import DEVICE_NAMES, QUANTIZE_CHOICES, is_device_name
from crosslmm_cli.errors import SettingsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

APP_NAME = "crosslmm"
ENV_CONFIG_DIR = "CROSSLMM_CONFIG_DIR"
ENV_CACHE_DIR = "CROSSLMM_CACHE_DIR"
ENV_DATA_DIR = "CROSSLMM_DATA_DIR"
ENV_MODEL = "CROSSLMM_MODEL"
SETTINGS_FILE = "settings.toml"



def config_dir() -> Path:
    """`settings.toml` and user presets (`presets/*.toml`)."""
    return _dir(ENV_CONFIG_DIR, "user_config_dir")


def cache_dir() -> Path:
    """Disposable state: the video feature cache."""
    return _dir(ENV_CACHE_DIR, "user_cache_dir")


def data_dir() -> Path:
    """Converted models (`models/<preset>`): expensive to rebuild, so not under the cache dir."""
    return _dir(ENV_DATA_DIR, "user_data_dir")


def _dir(env: str, platformdirs_function: str) -> Path:
    override = os.environ.get(env)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(getattr(platformdirs, platformdirs_function)(APP_NAME))


@dataclass(frozen=True)
class Settings:
    """Defaults a user sets once in `settings.toml`; command-line flags override each of them.

    Example file:

        model = "onevision-0.5b"
        quantize = "4bit"
        device = "auto"
        cache_max_gb = 20
    """

    model: str | None = None
    quantize: str | None = None
    device: str | None = None
    cache_max_gb: float = 10.0
    path: Path | None = None  # the file these came from, for messages

    def __post_init__(self) -> None:
        where = str(self.path) if self.path else "settings"
        if self.quantize is not None and self.quantize not in QUANTIZE_CHOICES:
            raise SettingsError(f"{where}: quantize must be one of {', '.join(QUANTIZE_CHOICES)}, not {self.quantize!r}")
        if self.device is not None and not is_device_name(self.device):
            raise SettingsError(f"{where}: device must be {DEVICE_NAMES}, not {self.device!r}")
        if not self.cache_max_gb >= 0:
            raise SettingsError(f"{where}: cache_max_gb must be a number >= 0, not {self.cache_max_gb!r}")


_KEY_TYPES = {"model": str, "quantize": str, "device": str, "cache_max_gb": (int, float)}


def settings_path() -> Path:
    return config_dir() / SETTINGS_FILE


def load_settings(path: Path | None = None) -> Settings:
    """Read `settings.toml`; a missing file means defaults, a broken one is a `SettingsError`."""
    path = path or settings_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read settings ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from exc
    known = {f.name for f in fields(Settings)} - {"path"}
    for key, value in raw.items():
        if key not in known:
            raise SettingsError(f"{path}: unknown setting {key!r}", hint=f"known settings: {', '.join(sorted(known))}")
        if isinstance(value, bool) or not isinstance(value, _KEY_TYPES[key]):
            raise SettingsError(f"{path}: setting {key!r} has the wrong type ({type(value).__name__})")
    return Settings(**raw, path=path)


@dataclass(frozen=True)
class ModelChoice:
    """Which model a command uses, and why (for `--verbose` and the demo hint)."""

    ref: str
    source: str  # "flag" | "settings" | "env" | "default"


DEMO_MODEL = "demo"


def choose_model(flag: str | None, settings: Settings) -> ModelChoice:
    """--model beats $CROSSLMM_MODEL, which beats the settings file, which beats the bundled demo.

    The usual order (git, pip, docker): the environment is set for one shell or one run and the
    file for every run, so the narrower choice wins: `CROSSLMM_MODEL=x crosslmm ask ...` must be
    able to override a model chosen once in the settings file."""
    if flag:
        return ModelChoice(flag, "flag")
    env = os.environ.get(ENV_MODEL)
    if env:
        return ModelChoice(env, "env")
    if settings.model:
        return ModelChoice(settings.model, "settings")
    return ModelChoice(DEMO_MODEL, "default")
