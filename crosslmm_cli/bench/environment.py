"""The machine and software a benchmark ran on, recorded beside its numbers.

Absolute times mean little without the CPU or GPU, the core count, the library versions and how
busy the machine was: the load average is recorded at the start and the end, because a 2-core
machine shared with other jobs gives slower and noisier times.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

PACKAGES = ("torch", "transformers", "bitsandbytes", "crosslmm")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, the platform module elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def environment(device: torch.device) -> dict[str, Any]:
    import psutil
    import torch

    env: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_cores": psutil.cpu_count(logical=False),
        "cpu_threads": psutil.cpu_count(logical=True),
        "torch_threads": torch.get_num_threads(),
        "ram_bytes": psutil.virtual_memory().total,
        "os": platform.platform(terse=True),
        "versions": versions(),
        "load_average_start": load_average(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env["gpu"] = props.name
        env["gpu_memory_bytes"] = props.total_memory
        env["cuda"] = torch.version.cuda
    return env
