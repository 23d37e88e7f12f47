"""Turning errors into one line on stderr and an exit code, the same way for every command.

A `CrossLMMError` prints `error: ... (hint: ...)` and exits with its class's code (2 usage,
3 model, 1 otherwise): `exit_for` is that mapping, used by the root command group (which wraps
every command's `invoke`) and by `reported_errors` (for commands run outside it, as the training
commands' tests run them). Anything unexpected prints one line too, with the traceback only under
--verbose. Ctrl-C is typer's (exit 130), or `error: interrupted` with a hint to resume.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator
from typing import Any

import typer
from crosslmm_cli.cli.help import Group
from crosslmm_cli.cli.terminal import stderr_console
from crosslmm_cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, CrossLMMError, error_line

_verbosity = 0


def set_verbosity(level: int) -> None:
    global _verbosity
    _verbosity = level


def print_error(message: str) -> None:
    """One line on stderr (red on a colour terminal)."""
    stderr_console().print(message, markup=False, emoji=False, style="red", soft_wrap=True)


def print_warning(message: str) -> None:
    """`warning: ...` as one line on stderr (yellow on a colour terminal)."""
    stderr_console().print(f"warning: {message}", markup=False, emoji=False, style="yellow", soft_wrap=True)


def exit_for(error: BaseException) -> typer.Exit:
    """Print `error` as one line; the exit that goes with it (a CrossLMMError's own code, else 1)."""
    print_error(error_line(error))
    return typer.Exit(error.exit_code if isinstance(error, CrossLMMError) else EXIT_FAILED)


def fail(message: str, code: int, hint: str | None = None) -> typer.Exit:
    """One line on stderr, in the same `error: ... (hint: ...)` form, for a problem no typed error names."""
    print_error(f"error: {message}" + (f" (hint: {hint})" if hint else ""))
    return typer.Exit(code)


@contextlib.contextmanager
def reported_errors(resume_hint: str | None = None) -> Iterator[None]:
    """The library's typed errors as `exit_for` reports them; Ctrl-C as `interrupted` (exit 130)."""
    try:
        yield
    except CrossLMMError as error:
        raise exit_for(error) from None
    except KeyboardInterrupt:
        raise fail("interrupted", EXIT_INTERRUPTED, resume_hint) from None


@contextlib.contextmanager
def usage_errors() -> Iterator[None]:
    """Around building settings from flags: their ValueErrors name a bad flag value (exit 2)."""
    try:
        yield
    except ValueError as error:
        raise fail(str(error).splitlines()[0], 2) from None


class ErrorHandlingGroup(Group):
    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CrossLMMError as exc:
            raise exit_for(exc) from exc
        except (typer.Exit, typer.Abort, KeyboardInterrupt, BrokenPipeError):
            raise  # typer's own handling: exit codes, 130 for Ctrl-C, a quiet exit when `| head` closes the pipe
        except Exception as exc:
            if type(exc).__module__.startswith("typer."):  # usage errors and the like: typer shows them
                raise
            if _verbosity > 0:
                traceback.print_exc(file=sys.stderr)
            raise exit_for(exc) from exc
