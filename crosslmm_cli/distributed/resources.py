"""What `--engine ray` asks the cluster for: model workers, their CPUs and GPUs, decode tasks.

A Ray Data pipeline stalls when its actors hold every CPU: the decode tasks feeding them never
start (ray 2.60, `ray.init(num_cpus=2)`: two actors asking a whole CPU each never finished a toy
job; at half a CPU each it ran in 3 s). So the sizing here keeps room for one decode task by
construction: each model worker asks for at most one CPU, less when that room would otherwise be
gone, and a configuration that cannot leave it (or asks for GPUs or CPUs the cluster does not
have) is refused with a usage error naming the flags, before anything starts.

Pure arithmetic on the cluster's totals: no Ray here, so it is tested without one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from crosslmm_cli.errors import UsageError

#: Below this share of a CPU a model worker would mostly wait for the CPU it runs on.
MIN_WORKER_CPUS = 0.1
#: What a model worker asks for when there is room: one CPU (it feeds its GPU, or is the CPU model).
WORKER_CPUS = 1.0
#: Ray Data blocks per slot (a model worker, or a decode task the cluster runs at once): each slot has
#: several blocks to take in turn, so none waits while another slot's block is still being cut.
BLOCKS_PER_SLOT = 4
#: Inputs in one block at most. Each block costs the driver about 16 ms of CPU (`crosslmm bench batch`:
#: 40 records/s at one input per block on 2 cores, 850 at 32), shared by its inputs; but a block's
#: records reach the driver together, so this also bounds the answered work a Ctrl-C throws away.
MAX_PER_BLOCK = 16


@dataclass(frozen=True)
class RayOptions:
    """`--engine ray`'s flags. Unset values are chosen from the cluster (see `place`)."""

    address: str | None = None  # None: start a local Ray on this machine; "auto" or HOST:PORT: join that cluster
    workers: int | None = None  # model workers (actors); default: one per GPU share, else 1
    gpus_per_worker: float | None = None  # default: 1 on a cluster with GPUs, else 0
    decode_cpus: float = 1.0  # CPUs each decode task asks for

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"--workers must be >= 1, not {self.workers}")
        if self.gpus_per_worker is not None and not self.gpus_per_worker >= 0:
            raise UsageError(f"--gpus-per-worker must be >= 0, not {self.gpus_per_worker:g}")
        if not self.decode_cpus > 0:
            raise UsageError(f"--decode-cpus must be > 0, not {self.decode_cpus:g}")
        if self.address is not None and not self.address.strip():
            raise UsageError("--ray-address must be auto or HOST:PORT")


@dataclass(frozen=True)
class ClusterShape:
    """The cluster's resources as Ray reports them."""

    cpus: float  # all nodes together
    gpus: float
    largest_node_cpus: float


@dataclass(frozen=True)
class Placement:
    """What the pipeline's stages ask Ray for."""

    workers: int
    worker_cpus: float
    worker_gpus: float
    decode_cpus: float
    device: str  # where the model workers load the model: "cpu" or a CUDA device name
    decode_slots: int = 1  # decode tasks the CPUs left beside the workers run at once

    def describe(self) -> str:
        gpus = f", {self.worker_gpus:g} GPU" if self.worker_gpus else ""
        return (f"{self.workers} model worker{'s' if self.workers != 1 else ''} ({self.worker_cpus:g} CPU{gpus} each, "
                f"model on {self.device}); {self.decode_slots} decode task{'s' if self.decode_slots != 1 else ''} "
                f"at a time ({self.decode_cpus:g} CPU each)")

    def inputs_per_block(self, inputs: int) -> int:
        """How many inputs one Ray Data block holds: as many as keep BLOCKS_PER_SLOT blocks for every
        slot, from 1 to MAX_PER_BLOCK."""
        slots = self.workers + self.decode_slots
        return max(1, min(MAX_PER_BLOCK, math.ceil(inputs / (BLOCKS_PER_SLOT * slots))))


def place(options: RayOptions, cluster: ClusterShape, device: str = "auto") -> Placement:
    """Size the workers and tasks for `cluster`; a UsageError for a configuration that would stall.

    `device` is the run's --device: `auto` means a GPU when the workers get one, else the CPU."""
    gpus = _gpus_per_worker(options, cluster, device)
    if gpus and not cluster.gpus:
        raise UsageError(f"--gpus-per-worker {gpus:g}: the Ray cluster has no GPUs", hint="use --gpus-per-worker 0")
    workers = options.workers or (max(1, math.floor(cluster.gpus / gpus + 1e-9)) if gpus else 1)
    if gpus and workers * gpus > cluster.gpus + 1e-9:
        raise UsageError(f"--workers {workers} x --gpus-per-worker {gpus:g} needs {workers * gpus:g} GPUs; "
                         f"the Ray cluster has {cluster.gpus:g}")
    if options.decode_cpus > cluster.largest_node_cpus + 1e-9:
        raise UsageError(f"--decode-cpus {options.decode_cpus:g}: no Ray node has that many CPUs "
                         f"(the largest has {cluster.largest_node_cpus:g}); no decode task could start")
    spare = cluster.cpus - options.decode_cpus  # one decode task can always run beside the workers
    worker_cpus = min(WORKER_CPUS, math.floor(spare / workers * 100) / 100)
    if worker_cpus < MIN_WORKER_CPUS:
        fit = max(0, math.floor(spare / MIN_WORKER_CPUS + 1e-9))
        raise UsageError(
            f"--workers {workers} with --decode-cpus {options.decode_cpus:g} does not fit {cluster.cpus:g} CPUs: "
            f"each model worker would get {max(spare, 0) / workers:.2g} CPU and the decoding could stall",
            hint=f"use at most --workers {fit}" if fit else "lower --decode-cpus",
        )
    decode_slots = max(1, math.floor((cluster.cpus - workers * worker_cpus) / options.decode_cpus + 1e-9))
    return Placement(workers, worker_cpus, gpus, options.decode_cpus, _worker_device(device, gpus), decode_slots)


def _gpus_per_worker(options: RayOptions, cluster: ClusterShape, device: str) -> float:
    if device.startswith("cuda:"):
        raise UsageError(f"--device {device}: on Ray each worker sees only the GPUs Ray gives it",
                         hint="use --device cuda or auto, and --gpus-per-worker")
    if device == "cpu":
        if options.gpus_per_worker:
            raise UsageError("--device cpu and --gpus-per-worker exclude each other")
        return 0.0
    if options.gpus_per_worker is not None:
        gpus = float(options.gpus_per_worker)
    else:
        gpus = 1.0 if cluster.gpus >= 1 else 0.0
    if device.startswith("cuda") and not gpus:
        raise UsageError(f"--device {device} on Ray needs --gpus-per-worker (the workers get no GPU without it)")
    return gpus


def _worker_device(device: str, gpus: float) -> str:
    """Inside a worker Ray shows only its own GPUs, so `auto` becomes `cuda` (its first) or `cpu`."""
    if device != "auto":
        return device
    return "cuda" if gpus else "cpu"
