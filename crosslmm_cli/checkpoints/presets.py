"""Model presets: named models described as data files (`models/presets/<name>.toml`).

A preset says where a model comes from (bundled with the package, or a hub repo at a revision),
how it becomes a CrossLMM checkpoint (`convert`), and the defaults that suit it. Users add their
own presets as TOML files in `<config dir>/presets/`, e.g. for a native CrossLMM checkpoint:

    name = "my-crosslmm"
    repo = "someone/crosslmm-2b"
    revision = "0123abcd..."
    convert = "none"

The bundled files live in `<repo>/models` in a source checkout and in `crosslmm_cli/_models`
inside an installed wheel (pyproject's force-include); `bundled_models_dir()` finds either.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields
from pathlib import Path

from crosslmm_cli.checkpoints.settings import config_dir
from crosslmm_cli.errors import ModelLoadError, ModelNotFoundError, SettingsError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# How a preset's files become a loadable CrossLMM checkpoint directory.
CONVERT_BUNDLED = "bundled"  # ships inside the package: `path` is relative to the models dir
CONVERT_NONE = "none"  # the hub snapshot already is a CrossLMM checkpoint
CONVERT_LLAVA_ONEVISION = "llava_onevision"  # llava-hf LLaVA-OneVision, converted after download
CONVERT_CHOICES = (CONVERT_BUNDLED, CONVERT_NONE, CONVERT_LLAVA_ONEVISION)
#: Frames a model samples from a video when neither its preset nor the command says how many.
DEFAULT_FRAMES = 32


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    convert: str
    repo: str | None = None  # hub repo id
    revision: str | None = None  # branch, tag or commit; pin a commit where one is known
    path: str | None = None  # bundled presets: directory relative to the models dir
    default_frames: int = DEFAULT_FRAMES
    tokens_per_frame: int | None = None  # None: the checkpoint's own config decides
    license: str = "unknown"
    download_size: str = ""  # human-readable, e.g. "1.8 GB"
    notes: str = ""
    source_file: Path | None = None

    def __post_init__(self) -> None:
        where = str(self.source_file or self.name)
        if self.convert not in CONVERT_CHOICES:
            raise SettingsError(f"{where}: convert must be one of {', '.join(CONVERT_CHOICES)}, not {self.convert!r}")
        if self.convert == CONVERT_BUNDLED and not self.path:
            raise SettingsError(f"{where}: a bundled preset needs `path`")
        if self.convert != CONVERT_BUNDLED and not self.repo:
            raise SettingsError(f"{where}: preset {self.name!r} needs `repo` (a hub repo id)")
        if self.default_frames < 1:
            raise SettingsError(f"{where}: default_frames must be >= 1")
        if self.tokens_per_frame is not None and self.tokens_per_frame < 1:
            raise SettingsError(f"{where}: tokens_per_frame must be >= 1")

    @property
    def is_bundled(self) -> bool:
        return self.convert == CONVERT_BUNDLED


def bundled_models_dir() -> Path:
    """`models/` of a source checkout, or `crosslmm_cli/_models` of an installed wheel."""
    package_dir = Path(__file__).resolve().parent.parent  # crosslmm_cli/
    for candidate in (package_dir / "_models", package_dir.parent / "models"):
        if (candidate / "presets").is_dir():
            return candidate
    raise ModelLoadError(
        f"bundled models not found (looked in {package_dir / '_models'} and {package_dir.parent / 'models'})",
        hint="reinstall crosslmm; the wheel carries them",
    )


def user_presets_dir() -> Path:
    return config_dir() / "presets"


def read_preset(path: Path) -> Preset:
    """One preset file; the file name (without .toml) must match its `name`."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read preset ({exc})") from exc
    known = {f.name for f in fields(Preset)} - {"source_file"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SettingsError(f"{path}: unknown preset field(s) {', '.join(unknown)}")
    for required in ("name", "description", "convert"):
        if not isinstance(raw.get(required), str):
            raise SettingsError(f"{path}: preset field {required!r} is missing or not text")
    if raw["name"] != path.stem:
        raise SettingsError(f"{path}: preset name {raw['name']!r} does not match the file name")
    return Preset(**raw, source_file=path)


def load_presets() -> dict[str, Preset]:
    """Bundled presets, then the user's; a user preset with the same name replaces the bundled one."""
    presets: dict[str, Preset] = {}
    for directory in (bundled_models_dir() / "presets", user_presets_dir()):
        if directory.is_dir():
            for path in sorted(directory.glob("*.toml")):
                preset = read_preset(path)
                presets[preset.name] = preset
    return presets


def get_preset(name: str) -> Preset:
    presets = load_presets()
    if name not in presets:
        raise ModelNotFoundError(f"unknown model preset {name!r}", hint=f"known presets: {', '.join(sorted(presets))}")
    return presets[name]
