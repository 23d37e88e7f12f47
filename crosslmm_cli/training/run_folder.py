"""Where a run keeps its checkpoints, and how they are written so a crash never leaves half of one.

    OUTPUT/
      config.json, model.safetensors, tokenizer...   the final model (a normal CrossLMM directory)
      run.json                                       the run's settings
      metrics.jsonl                                  one line per logged step
      checkpoints/step-000200/                       model files + training_state.{safetensors,json}

A checkpoint is written to `step-N.partial/` and renamed when complete, so `--resume` only ever
sees whole checkpoints; the oldest are deleted beyond `keep`.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crosslmm_cli.training.state import STATE_JSON

CHECKPOINTS = "checkpoints"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
_STEP_DIR = re.compile(r"step-(\d+)$")


def checkpoint_path(output: Path, step: int) -> Path:
    return output / CHECKPOINTS / f"step-{step:06d}"


def list_checkpoints(output: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    folder = output / CHECKPOINTS
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _STEP_DIR.match(path.name)
        if match and path.is_dir() and (path / STATE_JSON).is_file():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(output: Path) -> Path | None:
    checkpoints = list_checkpoints(output)
    return checkpoints[-1] if checkpoints else None


def write_checkpoint(output: Path, step: int, write: Callable[[Path], None], *, keep: int | None) -> Path:
    """Call `write(folder)` on a fresh partial folder, publish it as step-N, prune old ones."""
    final = checkpoint_path(output, step)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    write(partial)
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)
    if keep is not None:
        for old in list_checkpoints(output)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def write_run_file(output: Path, settings: dict[str, Any]) -> None:
    output.mkdir(parents=True, exist_ok=True)
    (output / RUN_FILE).write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def trim_metrics(output: Path, step: int) -> None:
    """Drop metric lines logged after `step` (a resumed run logs those steps again)."""
    path = output / METRICS_FILE
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("step", 0) <= step:
            kept.append(line)
    path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
