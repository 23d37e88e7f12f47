"""Turning errors into one line on stderr and an exit code, for every command at once.

The root command group's `invoke` is wrapped: a `CrossLMMError` prints `error: ... (hint: ...)`
and exits with its code (2 usage, 3 model, 1 otherwise); anything unexpected prints one line too,
with the traceback only under --verbose. Ctrl-C is typer's: exit 130.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import typer
from typer.core import TyperGroup

from crosslmm_cli.errors import EXIT_FAILED, CrossLMMError, error_line

_verbosity = 0


def set_verbosity(level: int) -> None:
    global _verbosity
    _verbosity = level


def print_error(message: str) -> None:
    """One line on stderr (red on a colour terminal)."""
    from crosslmm_cli.cli.common import stderr_console

    stderr_console().print(message, markup=False, style="red", soft_wrap=True)


class ErrorHandlingGroup(TyperGroup):
    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CrossLMMError as exc:
            print_error(error_line(exc))
            raise typer.Exit(exc.exit_code) from exc
        except (typer.Exit, typer.Abort, KeyboardInterrupt, BrokenPipeError):
            raise  # typer's own handling: exit codes, 130 for Ctrl-C, a quiet exit when `| head` closes the pipe
        except Exception as exc:
            if type(exc).__module__.startswith("typer."):  # usage errors and the like: typer shows them
                raise
            if _verbosity > 0:
                traceback.print_exc(file=sys.stderr)
            print_error(error_line(exc))
            raise typer.Exit(EXIT_FAILED) from exc
