"""`crosslmm bench batch DIR`: the local engine against `--engine ray` on the same folder.

A `crosslmm bench` command in a module of its own (cli/bench.py is full); `register` adds it to
that command group, after cli/bench.py has put the group on the app.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from crosslmm_cli.cli.bench import bench_app
from crosslmm_cli.cli.options import Device, placement
from crosslmm_cli.cli.reporting import reported_errors


def register(app: typer.Typer) -> None:  # noqa: ARG001 - the group is on the app already
    bench_app.command("batch", no_args_is_help=True)(batch_command)


def batch_command(
    folder: Annotated[str, typer.Argument(metavar="DIR", help="A folder of videos (searched recursively).", show_default=False)],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Preset name, checkpoint directory or hub id (default: as `crosslmm batch`).")] = None,
    device: Device = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="Ray model workers (default: as --engine ray).")] = None,
    decode_cpus: Annotated[float, typer.Option("--decode-cpus", min=0.0, help="CPUs per Ray decode task.")] = 1.0,
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", metavar="auto|HOST:PORT", help="Join this Ray cluster (default: a local Ray).")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, help="Longest description, in tokens.")] = 64,
    ceiling_blocks: Annotated[int, typer.Option("--ceiling-blocks", min=0, help="Also run the pipeline with empty stages over this many blocks of 1, 4 and 16 inputs: the driver's ceiling (0: skip).")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Videos/s of the local engine and of --engine ray on DIR, the per-video decode and model costs, and the driver's cost per record."""
    from crosslmm_cli.bench.batch_engines import format_result, run_batch_bench
    from crosslmm_cli.cli.common import Session
    from crosslmm_cli.engine.options import ModelOptions, RunOptions
    from crosslmm_cli.errors import UsageError
    from crosslmm_cli.video.discovery import find_videos

    with reported_errors():
        inputs = [str(path) for path in find_videos(folder)]
        if not inputs:
            raise UsageError(f"no videos found in {folder}")
        session = Session.start(RunOptions(model=ModelOptions(ref=model, device=placement(None, device)[1]), use_cache=False))
        result = run_batch_bench(inputs, model=session.resolve_model(), model_options=session.run.model, workers=workers,
                                 decode_cpus=decode_cpus, address=ray_address, max_new_tokens=max_new_tokens,
                                 ceiling_blocks=ceiling_blocks,
                                 note=lambda message: session.note(f"... {message}"))
    if as_json:
        import json

        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        typer.echo(format_result(result))
    if not result.records_equal:
        raise typer.Exit(1)
