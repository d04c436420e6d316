"""The runner that runs stages in order and skips the complete ones."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from glore.errors import ConfigError
from training import dist
from training.context import Context
from training.recipe import Recipe
from training.rundir import RunDir
from training.stage_names import STAGES, TRAINING_STAGES, needs
from training.variants import VariantRun

__all__ = ["STAGES", "TRAINING_STAGES", "run_stages", "stage_fn"]

_MODULES = {
    "sorm-label": "sorm_label",
    "refine-data": "refine_data",
    "global": "refiners",
    "local": "refiners",
    "orm": "reward_models",
    "sorm": "reward_models",
}


def stage_fn(name: str) -> Callable[[Context], dict[str, Any]]:
    if name not in STAGES:
        raise ConfigError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    module = importlib.import_module(f"training.stages.{_MODULES.get(name, name)}")
    fn: Callable[[Context], dict[str, Any]] = (
        getattr(module, f"run_{name}".replace("-", "_"), None) or module.run
    )
    return fn


def run_stages(
    recipe: Recipe,
    out: Path,
    names: tuple[str, ...] = STAGES,
    log: Callable[[str], None] = print,
    variant: str | None = None,
) -> list[dict[str, Any]]:
    """Run `names` in pipeline order, skipping complete stages; earlier stages must be done.
    With `variant`, `names` run into `out/variants/VARIANT/` on `out`'s cached stages
    (`training.variants`)."""
    run: RunDir = (
        RunDir(out, recipe.digest(), recipe.to_dict())
        if variant is None
        else VariantRun(out, variant, recipe.to_dict(), names)
    )
    ctx = Context(recipe, run)
    results = []
    for name in STAGES:
        dist.barrier()  # every process sees the same stages complete before deciding
        if name not in names:
            if not ctx.run.done(name) and any(name in needs(n) for n in names):
                raise ConfigError(f"stage {name!r} must run first (glore train {name})")
            continue
        if ctx.run.done(name):
            log(f"[{name}] complete, skipped")
            results.append(ctx.run.summary(name))
            continue
        log(f"[{name}] running")
        if name in TRAINING_STAGES or dist.is_main():
            stage_fn(name)(ctx)
        dist.barrier()
        summary = ctx.run.summary(name)
        log(f"[{name}] done in {summary['seconds']} s")
        results.append(summary)
    return results
