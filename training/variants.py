"""Variants: retrain one model on a finished run's cached samples, rollouts and pairs.

`glore train orm --recipe R --out RUN --variant NAME` trains into `RUN/variants/NAME/orm`
and reads every other stage from RUN, so a hypothesis about the ORM costs one training run,
not a new pipeline. A variant's recipe may differ from RUN's only in the sections of the
stages a variant can run (`VARIANT_SECTIONS`); any other difference is refused, since the
cached data would not be what the recipe says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from glore.errors import ConfigError
from training import dist
from training.recipe import identity
from training.rundir import RECIPE, SUMMARY, RunDir, write_atomic

VARIANT_SECTIONS: dict[str, str] = {
    "verifier": "verifier",
    "orm": "orm",
    "sorm": "sorm",
    "global": "global_refiner",
    "local": "local_refiner",
    "export": "export",
}
"""Stage -> the recipe section it is made by; the only stages a variant runs."""
_FREE = frozenset(VARIANT_SECTIONS.values()) | {"threads"}
"""`threads` only says how many cores a stage uses, so a variant may run with another."""


def check_variant_recipe(base: dict[str, Any], recipe: dict[str, Any]) -> None:
    """Refuse a variant recipe that changes anything the cached stages were made by (every
    section but the variant stages' own and `threads`). Keys added since `base` was made
    compare at the value it had (`training.recipe.identity`)."""
    base, recipe = identity(base), identity(recipe)
    changed = sorted(
        k for k in set(base) | set(recipe) if k not in _FREE and base.get(k) != recipe.get(k)
    )
    if changed:
        raise ConfigError(
            f"a variant may change only {', '.join(sorted(_FREE))}; this recipe also changes "
            f"{', '.join(changed)} (train a new run with --out instead)"
        )


class VariantRun(RunDir):
    """A run directory whose variant stages live in `variants/NAME/`; the rest is the base's."""

    def __init__(
        self, base: Path, name: str, recipe: dict[str, Any], stages: tuple[str, ...]
    ) -> None:
        """`stages`: what this call runs; they, and the variant's finished stages, are its own."""
        outside = [s for s in stages if s not in VARIANT_SECTIONS]
        if outside:
            raise ConfigError(
                f"stages {', '.join(outside)} cannot run as a variant; a variant runs "
                f"{', '.join(VARIANT_SECTIONS)} on the cached data of the run"
            )
        if not name or "/" in name or name.startswith("."):
            raise ConfigError(f"variant name {name!r}: must be a plain folder name")
        stored = base / RECIPE
        if not stored.is_file():
            raise ConfigError(f"{base} is not a finished run with a {RECIPE}; train it first")
        check_variant_recipe(json.loads(stored.read_text()), recipe)
        self.base = RunDir.existing(base)
        self.root = base / "variants" / name
        self.targets = frozenset(stages)
        self.variant = name
        self.root.mkdir(parents=True, exist_ok=True)
        if dist.is_main():
            write_atomic(self.root / RECIPE, json.dumps(recipe, indent=2, sort_keys=True))

    def _own(self, name: str) -> bool:
        return name in self.targets or (self.root / name / SUMMARY).is_file()

    def stage(self, name: str) -> Path:
        return super().stage(name) if self._own(name) else self.base.stage(name)

    def done(self, name: str) -> bool:
        return (self.stage(name) / SUMMARY).is_file()

    def summary(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.stage(name) / SUMMARY).read_text())
        return data
