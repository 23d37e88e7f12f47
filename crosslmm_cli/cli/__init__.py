"""The `crosslmm` command: a thin Typer layer over the library API.

Nothing here imports torch at module level, so `crosslmm --help` and `--version` answer at once.
"""

from __future__ import annotations

import typer

from crosslmm_cli import __version__

app = typer.Typer(
    name="crosslmm",
    help="Answer questions about local video files with CrossLMM.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
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


def main() -> None:
    app()
