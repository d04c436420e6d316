"""The runner that runs stages in order and skips the complete ones."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from glore.errors import ConfigError
from training import dist
from training.context import Context, check_sizes, recipe_task
from training.recipe import Recipe
from training.rundir import RunDir
from training.stage_names import STAGES, TRAINING_STAGES, missing_inputs
from training.variants import VariantRun

__all__ = ["RUNNERS", "STAGES", "TRAINING_STAGES", "run_stages", "stage_fn"]

RUNNERS: dict[str, tuple[str, str]] = {
    "tokenizer": ("training.stages.tokenizer", "run"),
    "student": ("training.stages.student", "run"),
    "verifier": ("training.stages.verifier", "run"),
    "sample": ("training.stages.sample", "run"),
    "sorm-label": ("training.stages.sorm_label", "run"),
    "orm": ("training.stages.reward_models", "run_orm"),
    "sorm": ("training.stages.reward_models", "run_sorm"),
    "refine-data": ("training.stages.refine_data", "run"),
    "global": ("training.stages.refiners", "run_global"),
    "local": ("training.stages.refiners", "run_local"),
    "export": ("training.stages.export", "run"),
}
"""Stage -> (module, function) that runs it. Imported when the stage runs, so `glore
--help` loads no torch; a test imports every one."""


def stage_fn(name: str) -> Callable[[Context], dict[str, Any]]:
    if name not in RUNNERS:
        raise ConfigError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    module, function = RUNNERS[name]
    fn: Callable[[Context], dict[str, Any]] = getattr(importlib.import_module(module), function)
    return fn


def _complete_at_launch(run: RunDir) -> frozenset[str]:
    """The stages complete when this launch began, seen alike by every process. Asking
    again before each stage raced: past a barrier, the main process could finish a quick
    stage and write its summary before a slower one looked, which then skipped a stage
    the others ran and waited at a collective they never joined (the CI hang)."""
    dist.barrier()
    complete = frozenset(name for name in STAGES if run.done(name))
    dist.barrier()  # no process writes a summary before every one has looked
    return complete


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
    check_sizes(recipe, recipe_task(recipe.task))  # a file dataset's sizes, before any work
    run: RunDir = (
        RunDir(out, recipe.digest(), recipe.to_dict())
        if variant is None
        else VariantRun(out, variant, recipe.to_dict(), names)
    )
    ctx = Context(recipe, run)
    complete = _complete_at_launch(run)
    missing = missing_inputs(names, complete)
    if missing:
        raise ConfigError(f"stage {missing[0]!r} must run first (glore train {missing[0]})")
    results = []
    for name in STAGES:
        if name not in names:
            continue
        if name in complete:
            log(f"[{name}] complete, skipped")
            results.append(ctx.run.summary(name))
            continue
        log(f"[{name}] running")
        returned = None
        if name in TRAINING_STAGES or dist.is_main():
            returned = stage_fn(name)(ctx)
        dist.barrier()  # the main process's outputs are written before anyone reads them
        # A process that ran the stage has its summary; only the others read the file the
        # main process wrote.
        summary = returned if returned is not None else ctx.run.wait_summary(name)
        log(f"[{name}] done in {summary['seconds']} s")
        results.append(summary)
    return results
