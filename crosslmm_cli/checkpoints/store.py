"""Where models live on disk: resolving `--model`, and `models pull|path|rm`.

Downloads go through `loader.download_snapshot` (huggingface_hub's cache, shared with other
tools and resumable; only safetensors, JSON and tokenizer files). Conversions (LLaVA-OneVision ->
CrossLMM) are written to `<data dir>/models/<preset>`, into a temporary directory first and
moved into place only when complete, with a marker file recording what they came from, so an
interrupted conversion is never mistaken for a finished one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crosslmm_cli.checkpoints.presets import (
    CONVERT_LLAVA_ONEVISION,
    CONVERT_NONE,
    Preset,
    bundled_models_dir,
    load_presets,
)
from crosslmm_cli.checkpoints.settings import DEMO_MODEL, ModelChoice, data_dir
from crosslmm_cli.errors import ModelLoadError, ModelNotFoundError

COMPLETE_MARKER = ".crosslmm-complete.json"

Converter = Callable[[Path, Path], None]
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # owner/name, as the hub spells repo ids


@dataclass(frozen=True)
class ResolvedModel:
    """What `--model` named, and where `load_model` finds it."""

    ref: str  # as the user gave it (preset name, directory, hub id)
    location: str  # a local directory, or a hub id for load_model to fetch
    preset: Preset | None
    source: str  # ModelChoice.source: "flag" | "settings" | "env" | "default"

    @property
    def is_demo(self) -> bool:
        return self.preset is not None and self.preset.name == DEMO_MODEL


def installed_dir(name: str) -> Path:
    return data_dir() / "models" / name


def local_path(preset: Preset) -> Path | None:
    """The preset's checkpoint directory if it is on disk, else None (never downloads)."""
    if preset.is_bundled:
        path = bundled_models_dir() / preset.path
        return path if (path / "config.json").is_file() else None
    if preset.convert == CONVERT_NONE:
        return _cached_snapshot(preset)
    path = installed_dir(preset.name)
    return path if (path / COMPLETE_MARKER).is_file() else None


def resolve_model(choice: ModelChoice) -> ResolvedModel:
    """A preset name, a local checkpoint directory, or a hub id (passed on as is).

    Preset names win over same-named directories in the working directory (`./demo` is a path).
    """
    ref = choice.ref
    path = Path(ref).expanduser()
    presets = load_presets()
    if ref not in presets and path.is_dir():
        return ResolvedModel(ref, str(path), None, choice.source)
    if ref in presets:
        preset = presets[ref]
        found = local_path(preset)
        if found is None:
            if preset.is_bundled:
                raise ModelLoadError(f"bundled model {ref!r} is missing from this installation", hint="reinstall crosslmm")
            raise ModelNotFoundError(f"model {ref!r} is not downloaded yet", hint=f"run `crosslmm models pull {ref}`")
        return ResolvedModel(ref, str(found), preset, choice.source)
    if path.exists() or not _HUB_ID.fullmatch(ref):
        raise ModelNotFoundError(
            f"model {ref!r} not found: not a preset, a checkpoint directory or a hub id (owner/name)",
            hint=f"presets: {', '.join(sorted(presets))}",
        )
    return ResolvedModel(ref, ref, None, choice.source)


def pull(preset: Preset, *, force: bool = False, converter: Converter | None = None) -> Path:
    """Download (and convert) a preset; a no-op when it is already complete (`force` converts again)."""
    if preset.is_bundled:
        found = local_path(preset)
        if found is None:
            raise ModelLoadError(f"bundled model {preset.name!r} is missing from this installation", hint="reinstall crosslmm")
        return found
    from crosslmm_cli.checkpoints.loader import download_snapshot

    snapshot = download_snapshot(preset.repo, preset.revision)
    if preset.convert == CONVERT_NONE:
        return snapshot
    if preset.convert == CONVERT_LLAVA_ONEVISION:
        return install_converted(preset, snapshot, force=force, converter=converter)
    raise ModelLoadError(f"preset {preset.name!r}: unknown conversion {preset.convert!r}")  # pragma: no cover


def install_converted(preset: Preset, source: Path, *, force: bool = False, converter: Converter | None = None) -> Path:
    """Convert `source` into `<data dir>/models/<preset>` unless that already holds this conversion.

    The marker records the source directory and revision: a new download (other revision) is
    converted again, a repeated pull is free.
    """
    target = installed_dir(preset.name)
    marker = {"preset": preset.name, "repo": preset.repo, "revision": preset.revision, "source": str(source.resolve())}
    if not force and _read_marker(target) == marker:
        return target
    converter = converter or _default_converter(preset)
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    try:
        converter(source, staging)
        (staging / COMPLETE_MARKER).write_text(json.dumps({**marker, "converted_at": time.time()}), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def remove(preset: Preset, *, download_too: bool = False) -> int:
    """Delete a preset's converted checkpoint (and its hub download if asked); returns bytes freed."""
    if preset.is_bundled:
        raise ModelLoadError(f"{preset.name!r} is bundled with crosslmm and cannot be removed")
    freed = 0
    target = installed_dir(preset.name)
    if target.exists():
        freed += directory_size(target)
        shutil.rmtree(target)
    if download_too or preset.convert == CONVERT_NONE:
        freed += _delete_hub_download(preset.repo)
    return freed


def directory_size(path: Path) -> int:
    """Bytes of the files under `path`, following the hub cache's symlinks to their blobs."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _read_marker(target: Path) -> dict | None:
    try:
        marker = json.loads((target / COMPLETE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    marker.pop("converted_at", None)
    return marker


def _default_converter(preset: Preset) -> Converter:
    from crosslmm_cli.checkpoints.convert import convert_llava_onevision

    def convert(source: Path, target: Path) -> None:
        # At the preset's few tokens per frame the converter picks area pooling (the paper's).
        convert_llava_onevision(source, target, tokens_per_frame=preset.tokens_per_frame)

    return convert


def _cached_snapshot(preset: Preset) -> Path | None:
    return cached_hub_snapshot(preset.repo, preset.revision)


def cached_hub_snapshot(repo: str, revision: str | None = None) -> Path | None:
    """The hub repo's snapshot in huggingface_hub's cache, never the network; None if not there."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    from crosslmm_cli.checkpoints.loader import HUB_ALLOW_PATTERNS

    try:
        return Path(snapshot_download(repo, revision=revision, allow_patterns=HUB_ALLOW_PATTERNS, local_files_only=True))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None


def local_checkpoint_dir(location: str) -> Path | None:
    """Where `ResolvedModel.location`'s files are on this machine, without downloading: the
    directory itself, or a hub id's cached snapshot (None: not downloaded yet)."""
    path = Path(location).expanduser()
    if path.is_dir():
        return path
    return cached_hub_snapshot(location) if _HUB_ID.fullmatch(location) else None


def _delete_hub_download(repo: str) -> int:
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        cache = scan_cache_dir()
    except CacheNotFound:
        return 0
    hashes = [rev.commit_hash for info in cache.repos if info.repo_id == repo for rev in info.revisions]
    if not hashes:
        return 0
    strategy = cache.delete_revisions(*hashes)
    strategy.execute()
    return strategy.expected_freed_size


__all__ = [
    "ResolvedModel",
    "directory_size",
    "install_converted",
    "installed_dir",
    "load_presets",
    "local_path",
    "pull",
    "remove",
    "resolve_model",
]
