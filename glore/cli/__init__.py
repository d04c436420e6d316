"""The `glore` command. Sub-commands live in their own modules and are added here."""

from __future__ import annotations

import sys

import typer

from glore.cli.bench import bench_app
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
app.add_typer(bench_app, name="bench")
app.command("critique")(critique)


def _add_optional_commands() -> None:
    """Commands of the sibling packages (`training`, `evaluation`, `service`), when installed."""
    try:
        from training.cli import train_app
    except ImportError:  # a library-only install
        pass
    else:
        app.add_typer(train_app, name="train")
    try:
        from evaluation.cli import calibrate_command, eval_command
    except ImportError:  # installed without the `eval` extra
        pass
    else:
        app.command("eval")(eval_command)
        app.command("calibrate")(calibrate_command)
    try:
        from service.cli import serve
        from service.jobs.cli import worker
    except ImportError:  # installed without the `service` extra
        pass
    else:
        app.command("serve")(serve)
        app.command("worker")(worker)


_add_optional_commands()


def main() -> None:
    """Entry point: a `GloreError` is printed as one line with exit code 2, not a traceback."""
    try:
        app()
    except GloreError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
