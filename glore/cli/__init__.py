"""The `glore` command: the core's own sub-commands (solve, critique, tasks), and those of
the packages beside it, found through the `glore.commands` entry points."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import typer

from glore.cli.solve import critique, solve
from glore.cli.tasks import tasks_app
from glore.errors import GloreError

app = typer.Typer(
    name="glore",
    help="GLoRe: when, where and how to refine step-by-step reasoning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(tasks_app, name="tasks")
app.command("solve")(solve)
app.command("critique")(critique)


COMMANDS = "glore.commands"
"""The entry-point group through which the packages beside the core (training,
evaluation, service, bench) add their commands: each names a `register(app)` function."""


def _add_commands() -> None:
    """Every installed package's commands; one whose dependencies are missing (a
    library-only install) is left out. The core imports none of them by name."""
    for point in sorted(entry_points(group=COMMANDS), key=lambda p: p.name):
        try:
            register = point.load()
        except ImportError:
            continue
        register(app)


_add_commands()


def main() -> None:
    """Entry point: a `GloreError` is printed as one line with exit code 2, not a traceback."""
    try:
        app()
    except GloreError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
