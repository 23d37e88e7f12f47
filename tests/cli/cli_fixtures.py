"""Helpers for the CLI tests: test videos made with ffmpeg's lavfi sources, a tiny random checkpoint.

A uniquely named module (not conftest) so that `from cli_fixtures import ...` cannot pick up
another test directory's conftest.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


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


def save_tiny_checkpoint(directory: Path, *, seed: int = 0, gates: float = 0.5) -> Path:
    """A complete random tiny CrossLMM checkpoint; gates opened (tanh(0.5)) so cross-attention runs."""
    from crosslmm_cli.modeling.random_checkpoint import save_random_checkpoint

    return save_random_checkpoint(directory, "tiny", seed=seed, gates=gates)
