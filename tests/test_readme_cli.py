"""README's command table holds for the CLI: every command and option it shows exists, and it shows them all.

A newcomer reads the table, not `--help`; this test walks the table against the CLI's own commands (typer's click
tree, the same thing `--help` prints), so the two cannot drift apart.
"""

import re
from pathlib import Path
from typing import Any

import typer.main

from runbook.app.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"


def cli_commands() -> dict[str, Any]:
    """'run', 'config validate', ... -> the command as `--help` knows it (groups are walked, not listed)."""
    found: dict[str, Any] = {}

    def walk(command: Any, path: tuple[str, ...]) -> None:
        if hasattr(command, "commands"):  # a group (typer ships its own click: no isinstance against click's)
            for name, sub in command.commands.items():
                walk(sub, (*path, name))
        else:
            found[" ".join(path)] = command

    walk(typer.main.get_command(app), ())
    return found


def table_rows() -> dict[str, str]:
    """'run' -> the synopsis in README's command table (`runbook run --env NAME ...`)."""
    section = README.read_text().split("## Command line", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for synopsis in re.findall(r"^\| `(runbook [^`]+)` \|", section, flags=re.MULTILINE):
        words = synopsis.split()[1:]
        name = " ".join(w for w in words[:2] if re.fullmatch(r"[a-z][a-z-]*", w))
        command = name if name in cli_commands() else words[0]
        rows[command] = synopsis
    return rows


def options_in(synopsis: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", synopsis))


def test_every_command_is_in_the_table_and_every_row_is_a_command() -> None:
    assert sorted(table_rows()) == sorted(cli_commands())


def test_every_option_in_the_table_exists_and_every_option_is_in_it() -> None:
    problems = []
    for name, command in cli_commands().items():
        shown = options_in(table_rows().get(name, ""))
        options = [p for p in command.params if p.param_type_name == "option" and "--help" not in p.opts]
        known = {o for p in options for o in (*p.opts, *p.secondary_opts)}
        problems += [f"runbook {name}: the table shows {o}, which the command does not have" for o in shown - known]
        problems += [
            f"runbook {name}: {'/'.join(p.opts)} is missing from the table" for p in options if not shown & set(p.opts)
        ]
    assert not problems, "\n".join(problems)
