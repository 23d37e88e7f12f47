"""The resumable part of a checkpoint, without pickles: tensors in safetensors, the rest in JSON.

`torch.save(optimizer.state_dict())` is a pickle, and loading a pickle can run code; checkpoints
here are meant to be shared. So the training state is two files:

- `training_state.safetensors`: the trainable parameters in their training precision (float32
  master weights, so a resumed run continues bit for bit even if the model files are bf16 or
  merged LoRA), the optimizer's per-parameter tensors keyed by parameter name, the RNG states;
- `training_state.json`: position (step, epoch, batches done), the scheduler's state, the
  optimizer's hyper-parameters per group (with parameter names instead of indices), and the
  run's settings, which a resume must match.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crosslmm_cli.training.errors import ResumeError

if TYPE_CHECKING:
    import torch

STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Position:
    """Where a run stands: optimizer steps done, and batches of `epoch` already consumed."""

    step: int
    epoch: int
    batches_done: int


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # 0-d tensors in scheduler states
        return value.item()
    return value


def save_training_state(
    directory: str | Path,
    *,
    trainable: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    position: Position,
    settings: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> None:
    """Write the two state files into `directory` (which already holds the model)."""
    import torch
    from safetensors.torch import save_file

    directory = Path(directory)
    names = {id(param): name for name, param in trainable.items()}
    tensors: dict[str, torch.Tensor] = {f"param/{name}": param.detach().float().cpu().contiguous()
                                        for name, param in trainable.items()}
    groups = []
    scalar_state: dict[str, dict[str, Any]] = {}
    for group in optimizer.param_groups:
        groups.append({**{k: _jsonable(v) for k, v in group.items() if k != "params"},
                       "params": [names[id(p)] for p in group["params"]]})
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optimizer/{names[id(param)]}/{key}"] = value.detach().cpu().contiguous()
                else:
                    scalar_state.setdefault(names[id(param)], {})[key] = value
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for index, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{index}"] = rng
    save_file(tensors, str(directory / STATE_TENSORS), metadata={"format": "crosslmm-training-state"})
    scheduler_state = {k: _jsonable(v) for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    document = {
        "format_version": FORMAT_VERSION,
        "position": asdict(position),
        "scheduler": scheduler_state,
        "optimizer_groups": groups,
        "optimizer_scalars": scalar_state,
        "settings": settings,
        "extra": extra or {},
    }
    (directory / STATE_JSON).write_text(json.dumps(document, indent=1, default=_jsonable) + "\n", encoding="utf-8")


def read_state_document(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / STATE_JSON
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResumeError(f"{path}: missing (not a training checkpoint)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResumeError(f"{path}: unreadable ({error})".splitlines()[0]) from error
    if document.get("format_version") != FORMAT_VERSION:
        raise ResumeError(f"{path}: training state format {document.get('format_version')!r}, expected {FORMAT_VERSION}")
    return document


def check_settings(saved: dict[str, Any], current: dict[str, Any], where: Path) -> None:
    """A resume must be the same run: every setting that shapes data order or updates must match."""
    differing = sorted(key for key in set(saved) | set(current) if saved.get(key) != current.get(key))
    if differing:
        details = "; ".join(f"{key}: checkpoint {saved.get(key)!r}, now {current.get(key)!r}" for key in differing[:4])
        raise ResumeError(f"{where}: cannot resume a run with different settings ({details})",
                          hint="resume with the original options, or start a new run from the checkpoint with --model")


def load_training_state(
    directory: str | Path,
    *,
    trainable: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    settings: dict[str, Any],
) -> tuple[Position, dict[str, Any]]:
    """Restore parameters, optimizer, scheduler and RNG from `directory`; returns (position, extra)."""
    import torch
    from safetensors import safe_open

    directory = Path(directory)
    document = read_state_document(directory)
    check_settings(document["settings"], settings, directory)
    names = {id(param): name for name, param in trainable.items()}
    current_groups = [[names[id(p)] for p in group["params"]] for group in optimizer.param_groups]
    saved_groups = [group["params"] for group in document["optimizer_groups"]]
    if current_groups != saved_groups:
        raise ResumeError(f"{directory}: the trainable parameters differ from the checkpoint's")
    try:
        with safe_open(str(directory / STATE_TENSORS), framework="pt") as tensors:
            with torch.no_grad():
                for name, param in trainable.items():
                    param.copy_(tensors.get_tensor(f"param/{name}").to(param.dtype))
            state: dict[int, dict[str, Any]] = {}
            keys = set(tensors.keys())
            index = 0
            for group_names in saved_groups:
                for name in group_names:
                    entry = {key.rsplit("/", 1)[1]: tensors.get_tensor(key)
                             for key in keys if key.startswith(f"optimizer/{name}/")}
                    entry.update(document["optimizer_scalars"].get(name, {}))
                    if entry:
                        state[index] = entry
                    index += 1
            rng = tensors.get_tensor("rng/torch")
            cuda_rng = sorted((key for key in keys if key.startswith("rng/cuda/")), key=lambda k: int(k.rsplit("/", 1)[1]))
            cuda_states = [tensors.get_tensor(key) for key in cuda_rng]
    except (OSError, KeyError, RuntimeError) as error:  # missing file, missing key, damaged file
        raise ResumeError(f"{directory / STATE_TENSORS}: unreadable ({error})".splitlines()[0]) from error
    groups = []
    position_index = 0
    for group in document["optimizer_groups"]:
        count = len(group["params"])
        restored = {k: (tuple(v) if k == "betas" else v) for k, v in group.items() if k != "params"}
        groups.append({**restored, "params": list(range(position_index, position_index + count))})
        position_index += count
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    scheduler.load_state_dict({**scheduler.state_dict(), **document["scheduler"]})
    torch.set_rng_state(rng)
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
    return Position(**document["position"]), document.get("extra", {})
