"""`crosslmm describe PATH...`: a description of each video (files, directories, or `-` for stdin)."""

from typing import Annotated, Optional

import typer

from crosslmm_cli.cli.common import Session, videos_named, with_run_options
from crosslmm_cli.cli.ray_engine import with_engine_options
from crosslmm_cli.cli.remote import ServerOption
from crosslmm_cli.distributed.resources import RayOptions
from crosslmm_cli.engine.options import RunOptions
from crosslmm_cli.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("describe", no_args_is_help=True)(describe)


@with_run_options
@with_engine_options
def describe(
    paths: Annotated[list[str], typer.Argument(metavar="PATH...", show_default=False,
                     help="Video files, directories (searched recursively), or - to read paths from stdin.")],
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON object per video on stdout instead of text.")] = False,
    prompt: Annotated[Optional[str], typer.Option("--prompt", help="The instruction to give instead of the default.")] = None,
    server: ServerOption = None,
    *,
    run: RunOptions,
    ray: Optional[RayOptions],
) -> None:
    """Describe videos: text streamed to stdout, or JSON Lines with --jsonl."""
    from crosslmm_cli.cli.batch import run_task_batch
    from crosslmm_cli.tasks.video_tasks import DESCRIBE_PROMPT

    if server and ray is not None:
        raise UsageError("--server and --engine ray exclude each other")
    session = Session.start(run)
    summary = run_task_batch(
        session, videos_named(paths, session), task="describe", prompt=prompt or DESCRIBE_PROMPT, jsonl=jsonl, output=None,
        server=server, ray=ray,
    )
    raise typer.Exit(summary.exit_code)
