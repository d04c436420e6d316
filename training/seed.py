"""`glore train seed`: start a run from a model store's models instead of training them.

A store holds the models a run made, in float16. Seeding copies them back, in float32 (what
the stages sample and train in), into a new run's stage folders with the summaries the
store's manifest kept, each marked `seeded_from`; the stages after them then run on the
store's own models: how a new SORM or refiner is tried on a committed store without
repeating an hour of training. The verifier base is the store's likelihood ORM without its
head (a classifier ORM does not hold it). The recipe must agree with the one that made the
store on every section a seeded model was made by (`MADE_BY`); the sections of later
stages may differ, so a run can seed the student and try other sampling or rollouts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from glore.backends.embedded.likelihood import LikelihoodScorer
from glore.backends.embedded.scorers import scorer_class
from glore.errors import ConfigError
from training.recipe import ModelSpec, Recipe, identity, recipe_from_dict
from training.rundir import RunDir
from training.stage_names import missing_inputs

SOURCES: dict[str, str] = {
    "tokenizer": "student",
    "student": "student",
    "verifier": "orm",
    "orm": "orm",
    "sorm": "sorm",
    "global": "global",
    "local": "local",
}
"""Stage -> the store folder it is seeded from."""

_BASE = ("seed", "task", "model")
_MODEL_BUT_PRESET = tuple(
    f"model.{f.name}" for f in dataclasses.fields(ModelSpec) if f.name != "preset"
)
"""The model section but the student's size (the tokenizer and a from-scratch verifier base
have no preset, or their own). The verifier base reads every other key; the tokenizer reads
fewer (`base`, `vocab_size`, `tokenizer_problems`), and is held to all of them so a key
added to `ModelSpec` is never silently left out."""
_PAIRS = {
    # Global pairs are drawn before local ones (`training.stages.refine_data`), so where the
    # local drafts come from does not change them.
    "global": ("refine_data.cap_per_question", "refine_data.global_drafts"),
    "local": ("sorm_label", "refine_data"),
}
"""What made each refiner's pairs, beyond the samples."""
_SAMPLES = (*_BASE, "student", "gen_batch", "gen_processes", "generation", "sample")
MADE_BY: dict[str, tuple[str, ...]] = {
    "tokenizer": ("seed", "task", *_MODEL_BUT_PRESET, "student.problems"),
    "student": (*_BASE, "student"),
    "verifier": (*_BASE, "student", "verifier"),
    "orm": (*_SAMPLES, "verifier", "orm"),
    "sorm": (*_SAMPLES, "verifier", "sorm_label", "sorm"),
    "global": (*_SAMPLES, *_PAIRS["global"], "global_refiner"),
    "local": (*_SAMPLES, *_PAIRS["local"], "local_refiner"),
}
"""Stage -> the recipe sections (top-level keys) its model was made by, upstream included
(`gen_batch` and `generation` only say how the student generated, but are kept: a seeded
model's data must be what the recipe says, not merely close). `made_by` narrows one entry."""

_FROM_SCRATCH_VERIFIER = MADE_BY["tokenizer"] + ("verifier",)
"""A verifier base trained from scratch (not grown from the student) reads of the student's
section only which reference solutions it is trained on, and of the model section all but
the student's preset, so a run may seed it and change how the student is trained (its
expert iteration, say) or its size (E37)."""


def made_by(stage: str, recipe: Recipe) -> tuple[str, ...]:
    """The recipe sections, or `section.key`s, that `stage`'s model was made by."""
    spec = recipe.verifier
    if stage == "verifier" and spec is not None and not spec.expand:
        return _FROM_SCRATCH_VERIFIER
    refiner = {"global": recipe.global_refiner, "local": recipe.local_refiner}.get(stage)
    if refiner is not None and refiner.pairs == "both":  # it learnt the other's pairs too
        other = "local" if stage == "global" else "global"
        return (*_SAMPLES, *_PAIRS[stage], *_PAIRS[other], f"{stage}_refiner")
    return MADE_BY[stage]


def _manifest(store: Path) -> dict[str, Any]:
    path = store / "manifest.json"
    if not path.is_file():
        raise ConfigError(f"{store} is not a model store: it has no manifest.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _value(recipe: dict[str, Any], key: str) -> str:
    """A section, or a `section.key`, as canonical JSON (tuples and lists alike)."""
    value: Any = recipe
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return json.dumps(value, sort_keys=True)


def _check(recipe: Recipe, manifest: dict[str, Any], store: Path, stages: Sequence[str]) -> None:
    unknown = [s for s in stages if s not in SOURCES]
    if unknown:
        raise ConfigError(f"cannot seed {', '.join(unknown)}; seedable: {', '.join(SOURCES)}")
    theirs = identity(recipe_from_dict(manifest["recipe"]).to_dict())
    mine = identity(recipe.to_dict())
    for stage in stages:
        keys = made_by(stage, recipe)
        changed = [k for k in keys if _value(theirs, k) != _value(mine, k)]
        if changed:
            raise ConfigError(
                f"{store}'s {stage} was made by another recipe: this one changes "
                f"{', '.join(changed)}; seed it with the recipe in the store's manifest, or "
                f"seed only stages made before those sections"
            )
    if "verifier" in stages and scorer_class(store / "orm") is not LikelihoodScorer:
        raise ConfigError(f"{store}'s ORM is a classifier: it does not hold the verifier base")


def _copy(src: Path, dst: Path, stage: str) -> None:
    from transformers import AutoTokenizer

    from training.context import TRAIN_DTYPE
    from training.stages.export import copy_model

    if stage == "tokenizer":
        AutoTokenizer.from_pretrained(src).save_pretrained(dst)
        return
    # The verifier base is the store's likelihood ORM without its head.
    copy_model(src, dst, stage in ("orm", "sorm"), TRAIN_DTYPE, head=stage != "verifier")


def _data_stages(stage: str) -> list[str]:
    """The data stages (samples, rollouts, pairs) upstream of `stage`'s model, in order:
    their summaries say what a seeded model was made from."""
    return [s for s in missing_inputs((stage,), ()) if s not in SOURCES]


def seed_run(recipe: Recipe, store: Path, out: Path, stages: Sequence[str]) -> list[str]:
    """Seed `stages` of the run `out` from `store`; -> the stages seeded."""
    manifest = _manifest(store)
    _check(recipe, manifest, store, stages)
    run = RunDir(out, recipe.digest(), recipe.to_dict())
    for stage in stages:
        folder = run.stage(stage)
        _copy(store / SOURCES[stage], folder if stage == "tokenizer" else folder / "model", stage)
        summary = {"seconds": 0.0, **(manifest["stages"].get(stage) or {})}
        summary["seeded_from"] = f"{store}/{SOURCES[stage]} (float16 -> float32)"
        upstream = {
            s: manifest["stages"][s] for s in _data_stages(stage) if s in manifest["stages"]
        }
        if upstream:  # what made the seeded model, kept though this run has none of it
            summary["upstream"] = upstream
        run.finish(stage, summary, started=0.0)  # the store's seconds: what making it took
    return list(stages)
