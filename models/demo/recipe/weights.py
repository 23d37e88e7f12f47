"""Moving trained parts between checkpoints: each stage trains other parameter groups.

Groups are the trainer's own (`crosslmm_cli.training.groups`: vision, projector, v2v, t2v, llm):
the same names `crosslmm train --trainable` takes, so a merge says in those words which stage a
part comes from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

#: Files of a checkpoint folder that are not part of the model (a run's state and logs).
RUN_ONLY = ("checkpoints", "frame-cache", "metrics.jsonl", "run.json", "stage0a.json")


def merge_groups(base: Path, output: Path, sources: dict[str, Path]) -> dict[str, int]:
    """`base` with the parameters of each named group taken from another checkpoint; written to `output`.

    sources: group -> checkpoint folder, e.g. {"vision": stage0a, "llm": stage0b}. Every parameter of
    a named group must exist, with the same shape, in its source. Returns tensors copied per group.
    """
    from safetensors.torch import load_file, save_file

    from crosslmm_cli.training.groups import groups_of

    if output.exists():
        shutil.rmtree(output)
    shutil.copytree(base, output, ignore=shutil.ignore_patterns(*RUN_ONLY))
    state = load_file(output / "model.safetensors")
    copied = {group: 0 for group in sources}
    for group, folder in sources.items():
        other = load_file(Path(folder) / "model.safetensors")
        for name in state:
            if group in groups_of(name):
                if name not in other or other[name].shape != state[name].shape:
                    raise ValueError(f"{folder}: no parameter {name} of shape {tuple(state[name].shape)} for group {group}")
                state[name] = other[name].contiguous()
                copied[group] += 1
    save_file(state, output / "model.safetensors", metadata={"format": "pt"})
    return copied
