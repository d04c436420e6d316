"""`glore train`: run one stage of the pipeline, or all of them, from a recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

train_app = typer.Typer(help="Train GLoRe's five models from a recipe (see recipes/).")

RecipeOpt = Annotated[Path, typer.Option("--recipe", help="YAML recipe.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Run directory (resumable).")]


@train_app.command("all")
def all_stages(recipe: RecipeOpt, out: OutOpt) -> None:
    """Run every stage in order; complete ones are skipped, interrupted ones resume."""
    from training.pipeline import run_stages
    from training.recipe import load_recipe

    run_stages(load_recipe(recipe), out)


VariantOpt = Annotated[
    str | None,
    typer.Option(
        "--variant",
        help="Train into OUT/variants/NAME on OUT's cached stages (orm, sorm, global, local, "
        "export); the recipe may change only those stages' sections.",
    ),
]


def _stage_command(name: str) -> None:
    def command(recipe: RecipeOpt, out: OutOpt, variant: VariantOpt = None) -> None:
        from training.pipeline import run_stages
        from training.recipe import load_recipe

        run_stages(load_recipe(recipe), out, (name,), variant=variant)

    command.__doc__ = f"Run the {name} stage (the stages before it must be complete)."
    train_app.command(name)(command)


def _register() -> None:
    from training.stage_names import STAGES

    for name in STAGES:
        _stage_command(name)


_register()


def register(app: typer.Typer) -> None:
    """`glore train` (entry point `glore.commands`: the core imports no training code)."""
    app.add_typer(train_app, name="train")
