import re
from pathlib import Path

import pytest

from glore.errors import ConfigError
from tests.shared_data import dataset
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
        ("orm: {group_by_length: 1}", "'orm.group_by_length': must be bool"),
        ("- a list", "must be a mapping"),
        ("task: {name: mmlu}", "'task.name': must be one of arith, gsm8k, svamp"),
        ("task: {name: gsm8k}", "'task.path': must be a folder holding GSM8K's train.jsonl"),
        ("task: {name: gsm8k, path: /no/such}", "test.jsonl; got '/no/such'"),
        ("task: {name: svamp, path: /no/SVAMP.json}", "'task.path': must be the SVAMP.json"),
        ("task: {path: /data}", "'task.path': must be unset for arith"),
        ("student: {validation_questions: -1}", "'student.validation_questions': must be in 0"),
        ("student: {max_tokens: 4}", "'student.max_tokens': must be in 8..4096"),
        ("sample: {chunk: 0}", "'sample.chunk': must be in 1..100000"),
        ("sample: {start: -2}", "'sample.start': must be unset or >= 0"),
        ("sorm_label: {chunk: 0}", "'sorm_label.chunk': must be in 1..100000"),
        ("model: {max_len: 10}", "'model.max_len': must be in 64..32768"),
        ("model: {tokenizer_problems: 0}", "'model.tokenizer_problems': must be >= 1"),
        ("export: {max_tokens: 5000}", "'export.max_tokens': must be in 8..4096"),
        ("gen_batch: 0", "'gen_batch': must be in 1..100000"),
        ("verifier: {preset: huge}", "'verifier.preset': must be one of"),
        ("verifier: {train: {steps: 0}}", "'verifier.train.steps': must be >= 1"),
        ("verifier: small", "'verifier': must be a mapping"),
        ("verifier: {expand: 65}", "'verifier.expand': must be in 0..64"),
        ("sorm: {features: [mean, max]}", "'sorm.features': likelihood features ['mean', 'max']"),
        ("orm: {features: []}", "'orm.features': likelihood features []: give distinct"),
        ("sorm: {labels: noisy}", "'sorm.labels': must be one of balanced, raw"),
        ("refine_data: {global_drafts: best}", "'refine_data.global_drafts': must be one of"),
        ("refine_data: {local_drafts: all}", "'refine_data.local_drafts': must be one of"),
        ("global_refiner: {init: orm}", "'global_refiner.init': must be one of student, verifier"),
        ("local_refiner: {pairs: all}", "'local_refiner.pairs': must be one of own, both"),
        ("local_refiner: {init: verifier}", "'local_refiner.init': must be student without a"),
        (
            "verifier: {preset: micro}\nmodel: {lora: {r: 4}}\nglobal_refiner: {init: verifier}",
            "'global_refiner.init': must be student with model.lora",
        ),
    ],
)
def test_bad_recipes_fail_before_work(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
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


def test_a_verifier_base_is_part_of_a_runs_identity_only_when_set(tmp_path: Path) -> None:
    plain = load_recipe(_write(tmp_path, "seed: 1"))
    assert plain.verifier is None
    assert load_recipe(_write(tmp_path, "seed: 1\nverifier: null")).digest() == plain.digest()
    sized = load_recipe(_write(tmp_path, "seed: 1\nverifier: {preset: micro}"))
    assert sized.verifier is not None and sized.verifier.train.steps == 900
    assert sized.digest() != plain.digest() and sized.verifier.label == "scratch (micro)"
    grown = load_recipe(_write(tmp_path, "verifier: {expand: 4}")).verifier
    assert grown is not None and grown.label == "student + 4 blocks"


def test_a_refiners_init_is_part_of_a_runs_identity_only_when_not_the_student(
    tmp_path: Path,
) -> None:
    base = "verifier: {preset: micro}\nglobal_refiner: {steps: 20"
    plain = load_recipe(_write(tmp_path, base + "}"))
    student = load_recipe(_write(tmp_path, base + ", init: student}"))
    grown = load_recipe(_write(tmp_path, base + ", init: verifier}"))
    assert plain.global_refiner.init == "student" and plain.digest() == student.digest()
    assert grown.global_refiner.init == "verifier" and grown.digest() != plain.digest()


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


def test_a_base_folder_without_weights_or_tokenizer_fails_naming_the_key(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text('{"model_type": "llama"}')
    recipe = _write(tmp_path, f"model: {{base: {base}}}")
    with pytest.raises(ConfigError, match=r"'model\.base'.*has no weights"):
        load_recipe(recipe)
    (base / "model.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"'model\.base'.*has no tokenizer"):
        load_recipe(recipe)
    (base / "tokenizer.json").write_text("{}")
    assert load_recipe(recipe).model.base == str(base)


def _gsm8k_data() -> Path:
    return dataset("gsm8k")


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ("student: {problems: 6000, ei_rounds: 1, ei_questions: 1000}", "'student.problems'"),
        ("student: {problems: 6000}\nsample: {questions: 1000}", "'sample.questions'"),
        ("student: {problems: 10}\nsample: {questions: 100, start: 6700}", "'sample.questions'"),
    ],
)
def test_sizes_past_a_datasets_train_split_fail_before_any_work(
    tmp_path: Path, sizes: str, message: str
) -> None:
    from training.pipeline import run_stages

    data = _gsm8k_data()
    recipe = load_recipe(_write(tmp_path, f"task: {{name: gsm8k, path: {data}}}\n{sizes}"))
    with pytest.raises(ConfigError, match=f"{message}.*holds 6778"):
        run_stages(recipe, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing was started


def test_the_gsm8k_recipes_load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """gsm8k-smoke.yaml as shipped (its task.path is relative to the repository root);
    gsm8k.yaml with its placeholder base folder swapped for a real one."""
    import yaml

    data = _gsm8k_data()
    monkeypatch.chdir(ROOT)
    if data.resolve() != (ROOT.parent / "shared" / "data" / "gsm8k").resolve():
        pytest.skip("the shipped task.path is ../shared/data/gsm8k; GLORE_DATA_DIR differs")
    smoke = load_recipe(ROOT / "recipes" / "gsm8k-smoke.yaml")
    assert (smoke.task.name, smoke.sample.start) == ("gsm8k", 0)
    full = yaml.safe_load((ROOT / "recipes" / "gsm8k.yaml").read_text())
    with pytest.raises(ConfigError, match=r"'model\.base'"):
        load_recipe(ROOT / "recipes" / "gsm8k.yaml")  # until the user names a model
    base = tmp_path / "base"
    base.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (base / name).write_text("{}")
    full["model"]["base"] = str(base)
    path = tmp_path / "gsm8k.yaml"
    path.write_text(yaml.safe_dump(full))
    recipe = load_recipe(path)
    assert recipe.model.lora is not None and recipe.model.bf16 and recipe.sorm_label.k == 8
