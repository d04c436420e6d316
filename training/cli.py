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


@train_app.command("seed")
def seed_command(
    recipe: RecipeOpt,
    out: OutOpt,
    store: Annotated[Path, typer.Option("--store", help="Model store made by RECIPE.")],
    stages: Annotated[
        str,
        typer.Option(help="Comma list of stages to seed (tokenizer, student, verifier, ...)."),
    ] = "tokenizer,student",
) -> None:
    """Start run OUT from STORE's models (float32) instead of training them; the later
    stages then run on them (`training.seed`)."""
    from training.recipe import load_recipe
    from training.seed import seed_run

    names = [s.strip() for s in stages.split(",") if s.strip()]
    typer.echo(f"seeded {', '.join(seed_run(load_recipe(recipe), store, out, names))}")


VariantOpt = Annotated[
    str | None,
    typer.Option(
        "--variant",
        help="Train into OUT/variants/NAME on OUT's cached stages (verifier, orm, sorm, "
        "global, local, export); the recipe may change only those stages' sections.",
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

models_app = typer.Typer(help="Prepare base models for a recipe's `model.base`.")


@models_app.command("import-gguf")
def import_gguf_command(
    file: Annotated[Path, typer.Argument(help="The .gguf checkpoint.")],
    out: Annotated[Path, typer.Argument(help="New folder for the Hugging Face model.")],
    dtype: Annotated[
        str, typer.Option(help="Weights' dtype: float32, bfloat16 or float16.")
    ] = "float32",
) -> None:
    """Convert a GGUF checkpoint (dequantized) into a plain Hugging Face folder:
    model.safetensors, config.json, tokenizer."""
    import json

    from training.gguf_import import import_gguf

    typer.echo(json.dumps(import_gguf(file, out, dtype), indent=1))


def register(app: typer.Typer) -> None:
    """`glore train` and `glore models` (entry point `glore.commands`: the core imports no
    training code)."""
    app.add_typer(train_app, name="train")
    app.add_typer(models_app, name="models")
