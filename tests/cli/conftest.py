"""State isolation for CLI tests: every test gets its own config, cache, data and HF cache dirs,
and the Hugging Face Hub is offline (tests never download)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_state(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("state")
    for name in ("CONFIG", "CACHE", "DATA"):
        monkeypatch.setenv(f"CROSSLMM_{name}_DIR", str(root / name.lower()))
    monkeypatch.delenv("CROSSLMM_MODEL", raising=False)
    monkeypatch.setenv("HF_HOME", str(root / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(root / "hf" / "hub"))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    return root


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_video(path: Path, *scenes: tuple[str, float], size: str = "64x48", rate: int = 10, extra: list[str] | None = None) -> Path:
    """A video of solid-colour scenes, e.g. make_video(p, ("red", 2), ("blue", 3)): cuts at known times."""
    inputs, filters = [], []
    for k, (colour, seconds) in enumerate(scenes):
        inputs += ["-f", "lavfi", "-i", f"color=c={colour}:s={size}:r={rate}:d={seconds}"]
        filters.append(f"[{k}:v]")
    graph = "".join(filters) + f"concat=n={len(scenes)}:v=1:a=0[v]"
    command = [ffmpeg(), "-v", "error", "-y", *inputs, *(extra or []), "-filter_complex", graph, "-map", "[v]"]
    command += ["-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(command, check=True, capture_output=True)
    return path
