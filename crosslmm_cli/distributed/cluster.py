"""Reaching Ray: a local one started for the run, or a cluster already running.

Without `--ray-address` the run starts a Ray of its own on this machine (all its cores, no
dashboard) and stops it at the end, so the same command works on a laptop and on a cluster. That
Ray is one node, so it listens on 127.0.0.1 only: Ray otherwise binds the machine's outward
address, and turns an explicit 127.0.0.1 back into it, unless its cluster mode is off, which the
environment variable below does (Ray reads it when it is imported). With `--ray-address auto` or
HOST:PORT the run joins that cluster as a driver and leaves it running; a loopback HOST (a cluster
started on this machine at 127.0.0.1) gets the same switch, or Ray would dial the outward address. A Ray this process has
already started (a test's, a notebook's) is used as it is.

Ray's own chatter (progress bars, execution plans, worker logs, notices of retried work) stays off
the terminal, and off stdout, which carries the records: the command prints its own progress;
`--verbose` lets Ray's logs through (use --output then: Ray prints some of them on stdout).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from crosslmm_cli.distributed.resources import ClusterShape
from crosslmm_cli.errors import ClusterError, UsageError, first_line

#: Ray's switch for multi-node clusters on this platform; "0" makes a local Ray use the loopback address.
LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
INSTALL_HINT = "pip install 'crosslmm[ray]'"
JOIN_HINT = ("is `ray start --head` running there? A cluster with token authentication (Ray's default) needs "
             "RAY_AUTH_MODE=token here, and its token in ~/.ray/auth_token or $RAY_AUTH_TOKEN")


def import_ray() -> Any:
    """The `ray` module (with Ray Data), or a usage error saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401 - the pipeline needs Ray Data, not only Ray Core
    except ImportError as error:
        raise UsageError(f"--engine ray needs Ray Data ({error.name or 'ray'} is not installed)", hint=INSTALL_HINT) from None
    return ray


@contextlib.contextmanager
def ray_cluster(address: str | None = None, *, num_cpus: int | None = None, verbose: bool = False) -> Iterator[ClusterShape]:
    """Ray, started or joined for the block (and stopped after it if this call started it); yields its shape."""
    with _loopback(address is None or is_loopback(address)):
        ray = import_ray()
        started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": verbose,
                                      "logging_level": logging.INFO if verbose else logging.ERROR}
            try:
                if address is None:  # "local": a new Ray of our own, never one `ray start` left running here
                    ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, **kwargs)
                else:
                    ray.init(address=address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as error:
                where = f"the Ray cluster at {address}" if address else "a local Ray"
                raise ClusterError(f"cannot start or reach {where}: {first_line(error)}", hint=JOIN_HINT if address else None) from None
            started = True
        try:
            quiet_data(verbose)
            with _worker_logs(verbose):
                yield cluster_shape(ray)
        finally:
            if started:
                ray.shutdown()


def cluster_shape(ray: Any) -> ClusterShape:
    """The CPUs and GPUs of the cluster's live nodes."""
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    return ClusterShape(
        cpus=float(sum(node.get("CPU", 0.0) for node in nodes)),
        gpus=float(sum(node.get("GPU", 0.0) for node in nodes)),
        largest_node_cpus=float(max((node.get("CPU", 0.0) for node in nodes), default=0.0)),
    )


def quiet_data(verbose: bool) -> None:
    """Ray Data without its progress bars and execution plans; user errors raised as themselves."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = verbose
    context.enable_auto_log_stats = False
    context.raise_original_map_exception = True  # a worker's CrossLMMError reaches the driver as itself
    # CRITICAL: Ray Data logs a worker's failure with its whole traceback at ERROR; the run reports it in one line.
    logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.CRITICAL)


def is_loopback(address: str) -> bool:
    """True for 127.x.y.z:PORT, localhost:PORT and [::1]:PORT: a cluster on this machine's loopback."""
    host = address.rsplit(":", 1)[0].strip("[]") if ":" in address else address
    return host == "localhost" or host == "::1" or host.startswith("127.")


@contextlib.contextmanager
def _worker_logs(verbose: bool) -> Iterator[None]:
    """Ray prints its workers' logs and its error notices ("a worker died ... will be retried") on the
    driver's stdout, whatever `log_to_driver` says: with JSON Lines on stdout that would corrupt the
    results. Ray's own switch for them (`ray._private.worker._worker_logs_enabled`, what its debugger
    uses) is off for the run unless --verbose."""
    worker = sys.modules.get("ray._private.worker")
    before = getattr(worker, "_worker_logs_enabled", None)
    if worker is not None and before is not None:
        worker._worker_logs_enabled = verbose
    try:
        yield
    finally:
        if worker is not None and before is not None:
            worker._worker_logs_enabled = before


@contextlib.contextmanager
def _loopback(local: bool) -> Iterator[None]:
    """Ray's cluster mode off while a local Ray runs (its workers inherit the environment); restored after."""
    if not local:
        yield
        return
    before = os.environ.get(LOCAL_ONLY_ENV)
    os.environ[LOCAL_ONLY_ENV] = "0"
    constants = sys.modules.get("ray._private.ray_constants")  # Ray imported before: it read the variable then
    previous = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    if constants is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(LOCAL_ONLY_ENV, None)
        else:
            os.environ[LOCAL_ONLY_ENV] = before
        constants = sys.modules.get("ray._private.ray_constants")
        if constants is not None:
            constants.ENABLE_RAY_CLUSTER = previous if previous is not None else before != "0"

