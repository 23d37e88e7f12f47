"""A task over many videos on a Ray cluster (`--engine ray`): Ray Data, exactly once, resumable.

- `resources`: the flags (`RayOptions`) and how the stages are sized for the cluster (`place`);
- `cluster`: a local Ray started for the run (loopback only), or a running cluster joined;
- `stages`: the decode tasks' function and the model actors' callable class;
- `run`: `run_task_on_ray`, the pipeline on the driver, writing records as they come back.

Built on the batch runner's per-input step and results log (`crosslmm_cli.batch`) and the task
runner (`crosslmm_cli.tasks`), so both engines write the same records. Ray is an optional extra
(`pip install "crosslmm[ray]"`), imported only when a run starts: importing this package costs
nothing, and the local engine never imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crosslmm_cli.distributed.resources import RayOptions
from crosslmm_cli.lazy import lazy_exports

if TYPE_CHECKING:
    from crosslmm_cli.distributed.run import run_task_on_ray
    from crosslmm_cli.distributed.stages import TaskJob

_LAZY = {
    "TaskJob": "crosslmm_cli.distributed.stages",
    "run_task_on_ray": "crosslmm_cli.distributed.run",
}

__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = ["RayOptions", *_LAZY]
