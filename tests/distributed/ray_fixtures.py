"""Helpers for the `--engine ray` tests: a folder of good and bad inputs, records without timings.

A uniquely named module (not conftest), as the other test folders do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "models" / "demo" / "examples"
TIMING_FIELDS = {"elapsed_s"}


def make_clips(root: Path) -> Path:
    """The demo's two example clips, a truncated download, a text file and an empty file named .mp4."""
    import imageio_ffmpeg

    root.mkdir(parents=True, exist_ok=True)
    for name in ("circle.mp4", "three-scenes.mp4"):
        shutil.copy(EXAMPLES / name, root / name)
    faststart = root.parent / "faststart.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=96x64:rate=10:duration=4", "-c:v", "libx264", "-g", "10", "-movflags", "+faststart",
                    str(faststart)], check=True, capture_output=True)
    data = faststart.read_bytes()
    (root / "cut-download.mp4").write_bytes(data[: len(data) // 2])
    (root / "notes.mp4").write_text("not a video\n")
    (root / "zero.mp4").write_bytes(b"")
    return root


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def untimed(found: list[dict]) -> list[dict]:
    """Records by path, without the fields that time the run (they differ between any two runs)."""
    return sorted(({k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in found), key=lambda r: r["path"])
