"""`glore tasks`: look at generated problems and check dataset files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glore.formats import format_answer
from glore.tasks import TASK_NAMES, get_task

tasks_app = typer.Typer(help="Show problems of a task; check that a dataset file parses.")

TaskOpt = Annotated[str, typer.Option("--task", help=f"One of: {', '.join(TASK_NAMES)}.")]
PathOpt = Annotated[
    Path | None, typer.Option("--path", help="Dataset file or folder (gsm8k, svamp).")
]


@tasks_app.command("show")
def show(
    task: TaskOpt = "arith",
    split: Annotated[str, typer.Option(help="Split to show.")] = "test",
    n: Annotated[int, typer.Option("--n", min=1, max=1000, help="How many problems.")] = 5,
    seed: Annotated[int, typer.Option(help="Generator seed (arith).")] = 0,
    path: PathOpt = None,
) -> None:
    """Print problems with their reference solutions."""
    problems = get_task(task, path=path, seed=seed).load(split, n)
    for p in problems:
        typer.echo(f"[{p.id}] {p.question}")
        if p.solution is not None:
            typer.echo(p.solution.text)
        typer.echo(f"answer: {format_answer(p.answer)}\n")


@tasks_app.command("check")
def check(
    task: TaskOpt = "gsm8k",
    path: PathOpt = None,
    split: Annotated[str | None, typer.Option(help="Only this split.")] = None,
) -> None:
    """Parse every reference solution and count answers that parsed and matched."""
    from glore.tasks.check import check_dataset

    report = check_dataset(get_task(task, path=path), split)
    typer.echo(report.summary())
    if report.matched != report.total:
        raise typer.Exit(1)
