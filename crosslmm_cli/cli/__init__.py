"""The `crosslmm` command: a thin Typer layer over the library API.

Each command group lives in its own module under `crosslmm_cli.cli` and exposes
`register(app)`; `COMMAND_MODULES` lists them in help order. Nothing here imports torch at module
level, so `crosslmm --help` and `--version` answer at once.
"""

from __future__ import annotations

import importlib

import typer

from crosslmm_cli import __version__
from crosslmm_cli.cli.help import apply_help_style
from crosslmm_cli.cli.reporting import ErrorHandlingGroup

COMMAND_MODULES = (
    "ask",  # ask, chat
    "describe",
    "chapterize",
    "batch",
    "info",
    "models",  # models list|pull|path|rm, convert
    "cache",
    "synth",
    "init",
    "train",
    "distill",
    "eval",
    "bench",
    "bench_batch",  # bench batch: added to the bench group
    "serve",
)

app = typer.Typer(
    name="crosslmm",
    cls=ErrorHandlingGroup,
    help="Answer questions about local video files with CrossLMM.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"crosslmm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Answer questions about local video files with CrossLMM."""


def _register_commands(target: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(target)
    apply_help_style(target)


_register_commands(app)


def main() -> None:
    app()
