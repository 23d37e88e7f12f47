"""`--engine ray` on `batch` and `describe`: its flags, and the Ray engine with the terminal attached.

`with_engine_options` adds `--engine`, `--ray-address`, `--workers`, `--gpus-per-worker` and
`--decode-cpus` to a command and hands it `ray: RayOptions | None` (None: the local engine).
`run_task_on_ray_cli` takes the arguments `tasks.run_task_over_videos` takes, so `run_task_batch`
calls either alike; it prints what the local engine prints, from the records Ray sends back.
Ray itself is imported only when a run starts (`crosslmm_cli.distributed`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from crosslmm_cli.cli.common import add_options
from crosslmm_cli.distributed.resources import RayOptions
from crosslmm_cli.errors import UsageError

if TYPE_CHECKING:
    from crosslmm_cli.batch import BatchProgress, BatchSummary, ResultsLog
    from crosslmm_cli.cli.common import Session

ENGINE = "Engine"
ENGINES = ("local", "ray")
DEFAULT_DECODE_CPUS = RayOptions().decode_cpus


def _option(*names: str, **kwargs: Any) -> Any:
    return typer.Option(*names, rich_help_panel=ENGINE, **kwargs)


# name -> (annotation, default), as common.RUN_OPTIONS.
ENGINE_OPTIONS: dict[str, tuple[Any, Any]] = {
    "engine_name": (Annotated[str, _option("--engine", metavar="local|ray",
                    help="Run here (local), or on Ray Data: decode tasks and model workers on a Ray cluster "
                         "(ray; pip install 'crosslmm[ray]'). Inputs must be readable at the same path on every node.")],
                    "local"),
    "ray_address": (Annotated[Optional[str], _option("--ray-address", metavar="auto|HOST:PORT",
                    help="Join this Ray cluster (auto: the one `ray start` runs here). Default: start a local Ray on "
                         "this machine, all its cores, loopback only.")], None),
    "workers": (Annotated[Optional[int], _option("--workers", min=1,
                help="Model workers on Ray, each loading the model once (default: one per GPU share, else 1).")], None),
    "gpus_per_worker": (Annotated[Optional[float], _option("--gpus-per-worker", min=0.0,
                        help="GPUs each model worker asks Ray for; 0.5 puts two on a GPU (default: 1 on a cluster "
                             "with GPUs, else 0).")], None),
    "decode_cpus": (Annotated[float, _option("--decode-cpus", min=0.0,
                    help="CPUs each decode task (probing and sampling one video) asks Ray for.")], DEFAULT_DECODE_CPUS),
}


def build_ray_options(values: dict[str, Any]) -> RayOptions | None:
    """The --engine flags -> RayOptions (None: the local engine); Ray's flags without --engine ray are a usage error."""
    engine = values["engine_name"]
    if engine not in ENGINES:
        raise UsageError(f"--engine must be local or ray, not {engine!r}")
    if engine == "ray":
        return RayOptions(address=values["ray_address"], workers=values["workers"],
                          gpus_per_worker=values["gpus_per_worker"], decode_cpus=values["decode_cpus"])
    given = [flag for flag, name in (("--ray-address", "ray_address"), ("--workers", "workers"),
                                     ("--gpus-per-worker", "gpus_per_worker")) if values[name] is not None]
    given += ["--decode-cpus"] if values["decode_cpus"] != DEFAULT_DECODE_CPUS else []
    if given:
        raise UsageError(f"{', '.join(given)}: for --engine ray only")
    return None


def with_engine_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator: add ENGINE_OPTIONS to a command's flags and pass them to it as `ray: RayOptions | None`."""
    return add_options(command, ENGINE_OPTIONS, "ray", build_ray_options)


def run_task_on_ray_cli(
    options: RayOptions, session: Session, inputs: Sequence[str], *, task: str, prompt: str,
    chapter_options: Any = None, log: ResultsLog | None = None, emit: Callable[[dict[str, Any]], None] | None = None,
    retry_failed: bool = False, progress: BatchProgress | None = None, hooks: Any = None, **_local: Any,
) -> BatchSummary:
    """`distributed.run_task_on_ray` with the terminal attached: the local engine's warnings, errors and
    streamed text (whole, as each record arrives); takes (and ignores) the local engine's model arguments."""
    from crosslmm_cli.cli.remote import warn_partial
    from crosslmm_cli.distributed import TaskJob, run_task_on_ray
    from crosslmm_cli.tasks.chapters import ChapterOptions

    def on_record(record: dict[str, Any]) -> None:
        warn_partial(session, record)
        if hooks is not None and hooks.stream is not None and record["ok"]:
            with hooks.stream(record["path"]) as on_text:
                on_text(record.get("text", ""))
        if emit is not None:
            emit(record)

    job = TaskJob(task, prompt, session.run.generation, chapter_options or ChapterOptions())
    return run_task_on_ray(
        inputs, job=job, pipeline=session.pipeline_spec, options=options, log=log, emit=on_record,
        on_error=hooks.on_error if hooks is not None else None, retry_failed=retry_failed, progress=progress,
        note=session.detail, verbose=session.run.verbosity > 0,
    )
