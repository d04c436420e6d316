"""Which recipe sections a seeded model must agree on (`training.seed`), on the committed
default store, whose verifier base was trained from scratch."""

import dataclasses
import json
from pathlib import Path

import pytest

from glore.errors import ConfigError
from training.recipe import recipe_from_dict
from training.seed import MADE_BY, _check, made_by

STORE = Path(__file__).resolve().parents[2] / "model_store" / "default"
MANIFEST = json.loads((STORE / "manifest.json").read_text())
RECIPE = recipe_from_dict(MANIFEST["recipe"])


def _with_student(**changes: object) -> object:
    return dataclasses.replace(RECIPE, student=dataclasses.replace(RECIPE.student, **changes))


def test_a_verifier_from_scratch_reads_only_the_students_problems() -> None:
    assert RECIPE.verifier is not None and not RECIPE.verifier.expand
    assert "student.problems" in made_by("verifier", RECIPE)
    assert "student" not in made_by("verifier", RECIPE)
    grown = dataclasses.replace(RECIPE, verifier=dataclasses.replace(RECIPE.verifier, expand=2))
    assert made_by("verifier", grown) == MADE_BY["verifier"]  # grown from the student


def test_the_student_may_change_its_training_under_a_seeded_verifier() -> None:
    ei = _with_student(ei_rounds=1)
    _check(ei, MANIFEST, STORE, ["tokenizer", "verifier"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"student was made by another recipe: .* student"):
        _check(ei, MANIFEST, STORE, ["student"])  # type: ignore[arg-type]
    fewer = _with_student(problems=RECIPE.student.problems - 1)
    with pytest.raises(ConfigError, match=r"verifier .* changes student\.problems"):
        _check(fewer, MANIFEST, STORE, ["verifier"])  # type: ignore[arg-type]


def _with_refine_data(**changes: object) -> object:
    return dataclasses.replace(
        RECIPE, refine_data=dataclasses.replace(RECIPE.refine_data, **changes)
    )


def test_the_global_refiner_is_seeded_whatever_the_local_drafts() -> None:
    both = _with_refine_data(local_drafts="both")
    _check(both, MANIFEST, STORE, ["global"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"local was made by another recipe: .* refine_data;"):
        _check(both, MANIFEST, STORE, ["local"])  # type: ignore[arg-type]
    greedy = _with_refine_data(global_drafts="both")
    with pytest.raises(ConfigError, match=r"global .* changes refine_data\.global_drafts"):
        _check(greedy, MANIFEST, STORE, ["global"])  # type: ignore[arg-type]


def test_a_refiner_on_both_kinds_of_pairs_was_made_by_the_local_pairs_too() -> None:
    joint = dataclasses.replace(
        RECIPE, global_refiner=dataclasses.replace(RECIPE.global_refiner, pairs="both")
    )
    keys = made_by("global", joint)
    assert {"sorm_label", "refine_data", "global_refiner"} <= set(keys)
    assert "local_refiner" not in keys  # the local stage's own training run made nothing here
    both = dataclasses.replace(
        joint, refine_data=dataclasses.replace(RECIPE.refine_data, local_drafts="both")
    )
    with pytest.raises(ConfigError, match=r"global was made by another recipe"):
        _check(both, MANIFEST, STORE, ["global"])  # type: ignore[arg-type]


def test_a_student_of_another_size_may_be_trained_under_the_seeded_tokenizer_and_verifier() -> None:
    preset = "tiny" if RECIPE.model.preset != "tiny" else "small"
    other = dataclasses.replace(RECIPE, model=dataclasses.replace(RECIPE.model, preset=preset))
    _check(other, MANIFEST, STORE, ["tokenizer", "verifier"])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"student was made by another recipe: .* model"):
        _check(other, MANIFEST, STORE, ["student"])  # type: ignore[arg-type]
    longer = dataclasses.replace(RECIPE, model=dataclasses.replace(RECIPE.model, max_len=256))
    with pytest.raises(ConfigError, match=r"verifier .* changes model\.max_len"):
        _check(longer, MANIFEST, STORE, ["verifier"])  # type: ignore[arg-type]
