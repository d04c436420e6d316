from pathlib import Path

import pytest

from glore.errors import ConfigError
from training.recipe import Recipe, load_recipe

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["smoke.yaml", "tiny.yaml"])
def test_shipped_recipes_load(name: str) -> None:
    recipe = load_recipe(ROOT / "recipes" / name)
    assert isinstance(recipe, Recipe)
    assert recipe.sorm_label.k >= 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("studnet: {}", "'studnet' is unknown; allowed:"),
        ("student: {train: {stepz: 3}}", "'student.train.stepz' is unknown"),
        ("sorm_label: {k: 0}", "'sorm_label.k': must be in 1..256"),
        ("model: {base: /no/such/model}", "'model.base': must be a directory holding"),
        ("model: {preset: huge}", "'model.preset': must be one of"),
        ("task: {arith: {max_stepz: 3}}", "'task.arith.max_stepz': must be one of"),
        ("seed: abc", "'seed': must be int"),
        ("orm: {schedule: step}", "'orm.schedule': must be one of cosine, linear"),
        ("sorm: {save_every: -1}", "'sorm.save_every': must be >= 0"),
        ("- a list", "must be a mapping"),
    ],
)
def test_bad_recipes_fail_before_work(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_recipe(_write(tmp_path, text))


def test_missing_recipe_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")


def test_digest_changes_with_content(tmp_path: Path) -> None:
    a = load_recipe(_write(tmp_path, "seed: 1"))
    b = load_recipe(_write(tmp_path, "seed: 2"))
    assert (
        a.digest() != b.digest() and a.digest() == load_recipe(_write(tmp_path, "seed: 1")).digest()
    )


def test_digest_ignores_where_the_models_are_exported(tmp_path: Path) -> None:
    a = load_recipe(_write(tmp_path, "seed: 1\nexport: {name: a}"))
    b = load_recipe(_write(tmp_path, "seed: 1\nexport: {name: b, eval_questions: 9}"))
    assert a.digest() == b.digest()


def test_the_train_section_owns_the_schedule_and_checkpoints(tmp_path: Path) -> None:
    recipe = load_recipe(_write(tmp_path, "orm: {steps: 200, schedule: linear, save_every: 7}"))
    assert (recipe.orm.schedule, recipe.orm.save_steps, recipe.orm.logging_steps) == (
        "linear",
        7,
        10,
    )
    default = load_recipe(_write(tmp_path, "sorm: {steps: 8}")).sorm
    assert (default.schedule, default.save_steps, default.logging_steps) == ("cosine", 10, 1)


def test_every_stage_has_a_runner_in_the_table() -> None:
    from training.pipeline import RUNNERS, STAGES, stage_fn

    assert tuple(RUNNERS) == STAGES  # the table lists every stage, in pipeline order
    for name in STAGES:
        assert callable(stage_fn(name))
    with pytest.raises(ConfigError, match="unknown stage 'train'; stages: tokenizer"):
        stage_fn("train")
