"""Help reads cleanly at 80 columns, in every command (issue 14, item 10): no `<bool>` after flags,
no `{VIDEO}` in usage lines, every option name whole (not `--cross-attention-e…`), and with
NO_COLOR no style codes at all."""

import re

import pytest
from typer.testing import CliRunner

from test_cli_shared_options import all_commands, is_option

COMMANDS = sorted(all_commands())


def help_text(path: str, columns: int = 80) -> str:
    from crosslmm_cli.cli import app

    result = CliRunner().invoke(app, [*path.split(), "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("path", COMMANDS)
def test_help_at_80_columns_shows_every_option_whole_and_no_type_noise(path):
    text = help_text(path)
    command = all_commands()[path]
    [usage] = [line for line in text.splitlines() if "Usage:" in line]
    assert "{" not in usage and "}" not in usage, usage
    assert "<bool>" not in text
    assert "…" not in text, "\n".join(line for line in text.splitlines() if "…" in line)
    for param in command.params:
        if is_option(param):
            for name in param.opts:
                assert re.search(rf"(^|[\s,│]){re.escape(name)}($|[\s,│])", text, re.M), f"{name} not shown whole"


def test_usage_lines_name_arguments_as_man_pages_do():
    assert "Usage: crosslmm ask [OPTIONS] VIDEO [QUESTION]" in help_text("ask")
    assert "Usage: crosslmm describe [OPTIONS] PATH..." in help_text("describe")
