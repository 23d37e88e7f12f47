"""How every command's help looks: usage lines, flag types, and NO_COLOR.

Typer's rich help (0.2x) writes `<bool>` after every flag, `<str>` or `<list[str]>` after an
argument that already has a name (VIDEO, PATH...), and `{VIDEO}` for a required argument in the
usage line, where click and every man page write `VIDEO`. Each command's parameters are given
subclasses that say only what the user types: a flag has no type column, an argument is named
by its metavar, a usage line reads `crosslmm ask [OPTIONS] VIDEO [QUESTION]`. With NO_COLOR set,
help is printed with no styles at all (rich's own NO_COLOR handling keeps bold and dim).

`Command` and `Group` are the classes of every command and group (`apply_help_style`); the
subclasses add no state, so turning a parameter into one changes nothing but its display.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from crosslmm_cli.cli.terminal import no_styles


class _Flag(TyperOption):
    """A flag (`--json`, `--quiet`): nothing to show after its name."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


class _Argument(TyperArgument):
    """A positional argument: shown by its name (VIDEO, PATH...), without braces or a type."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.metavar or self.name.upper()
        if self.nargs != 1 and not name.endswith("..."):
            name += "..."
        return [name if self.required else f"[{name}]"]


def tidy(param: Any) -> Any:
    """`param` with the display of `_Flag` / `_Argument` when it is a flag or an argument."""
    if type(param) is TyperOption and param.is_flag:
        param.__class__ = _Flag
    elif type(param) is TyperArgument:
        param.__class__ = _Argument
    return param


@contextlib.contextmanager
def _help_styles() -> Iterator[None]:
    """Under NO_COLOR, typer's help console writes no style codes while the help is printed."""
    from typer import rich_utils

    if not no_styles() or not hasattr(rich_utils, "COLOR_SYSTEM"):
        yield
        return
    saved = rich_utils.COLOR_SYSTEM
    rich_utils.COLOR_SYSTEM = None
    try:
        yield
    finally:
        rich_utils.COLOR_SYSTEM = saved


class _HelpStyle:
    """What `Command` and `Group` share: tidied parameters (the help option too) and NO_COLOR."""

    params: list[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            tidy(param)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        return tidy(option) if option is not None else None

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with _help_styles():
            super().format_help(ctx, formatter)  # type: ignore[misc]


class Command(_HelpStyle, TyperCommand):
    """The class of every `crosslmm` command."""


class Group(_HelpStyle, TyperGroup):
    """The class of every `crosslmm` command group."""


def apply_help_style(app: typer.Typer) -> None:
    """Make `Command` the class of every command registered on `app` and its groups (unless one chose its own)."""
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):  # typer fills in its own class when a command names none
            info.cls = Command
    for group in app.registered_groups:
        if group.typer_instance is not None:
            apply_help_style(group.typer_instance)
