"""Bad input fails before any work: a store missing a model, a missing dataset, a split the
task lacks, bad knobs."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from evaluation.config import EvalConfig
from evaluation.inputs import check_inputs, store_hash
from glore.cli import app
from glore.errors import DatasetError, InvalidInputError, ModelNotFoundError

STORE = Path(__file__).resolve().parents[2] / "model_store" / "default"


def test_a_store_missing_a_model_is_named(tmp_path: Path) -> None:
    for role in ("student", "orm", "sorm", "global"):
        (tmp_path / role).symlink_to(STORE / role)
    with pytest.raises(ModelNotFoundError, match="lacks local"):
        check_inputs(EvalConfig(), tmp_path)


def test_a_missing_dataset_path_is_named(tmp_path: Path) -> None:
    cfg = EvalConfig(task="gsm8k", data=str(tmp_path / "nope.jsonl"))
    with pytest.raises(DatasetError, match="does not exist"):
        check_inputs(cfg, STORE)
    with pytest.raises(InvalidInputError, match="pass its path"):
        check_inputs(EvalConfig(task="svamp"), STORE)


def test_a_split_the_task_lacks_lists_the_splits() -> None:
    with pytest.raises(InvalidInputError, match="splits: train, validation, test, hard"):
        check_inputs(EvalConfig(split="dev"), STORE)
    with pytest.raises(InvalidInputError, match="one split, 'hard'"):
        check_inputs(EvalConfig(task="arith-hard", split="test"), STORE)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("task", "mmlu", "task must be one of"),
        ("k_eval", 0, "k_eval must be in"),
        ("rows", ("greedy", "beam"), "rows are"),
        ("rows", ("best_of_3",), "need greedy or a refining row"),
        ("reports", (), "at least one"),
        ("task_seed", -1, "task_seed must be in"),
    ],
)
def test_bad_knobs_say_what_is_allowed(field: str, value: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        EvalConfig(**{field: value})  # type: ignore[arg-type]


def test_another_generator_seed_draws_fresh_problems_of_the_same_split() -> None:
    from evaluation.label_cache import cache_key
    from glore.tasks.arith import split_of

    store_problems = check_inputs(EvalConfig(questions=200), STORE)
    fresh = check_inputs(EvalConfig(questions=200, task_seed=7), STORE)
    assert fresh.task_label == "arith/test (generator seed 7)"
    assert store_problems.task_label == "arith/test"
    assert all(split_of(p.question) == "test" for p in fresh.problems)  # never a train one
    seen = {p.question for p in store_problems.problems}
    assert not any(p.question in seen for p in fresh.problems)  # new questions
    hard = check_inputs(EvalConfig(task="arith-hard", questions=20, task_seed=7), STORE)
    assert all(p.meta["steps"] >= 5 for p in hard.problems)
    with pytest.raises(InvalidInputError, match="arith and arith-hard only"):
        EvalConfig(task="svamp", task_seed=1)
    # A labels cache keeps its key: the seed enters it only when set.
    assert "task_seed" not in cache_key(EvalConfig(), STORE)
    assert cache_key(EvalConfig(task_seed=7), STORE)["task_seed"] == 7


def test_the_split_defaults_to_the_tasks_held_out_one() -> None:
    assert EvalConfig().split_name == "test"
    assert EvalConfig(task="arith-hard").split_name == "hard"
    assert EvalConfig(task="svamp").split_name == "test"


def test_svamp_and_gsm8k_evaluate_the_splits_recipes_hold_out(shared_data: Path) -> None:
    from glore.tasks.splits import HeldOutSplits

    svamp = str(shared_data / "svamp" / "SVAMP.json")
    held_out = HeldOutSplits("svamp", Path(svamp))
    test = check_inputs(EvalConfig(task="svamp", data=svamp, questions=1000), STORE).problems
    assert [p.id for p in test] == [p.id for p in held_out.load("test")]
    train = {p.question for p in held_out.load("train")}
    assert not train & {p.question for p in test}  # no training question is evaluated
    whole = EvalConfig(task="svamp", data=svamp, split="all", questions=1000)
    assert len(check_inputs(whole, STORE).problems) == 1000
    gsm8k = str(shared_data / "gsm8k")
    val = EvalConfig(task="gsm8k", data=gsm8k, split="validation", questions=5000)
    assert len(check_inputs(val, STORE).problems) == HeldOutSplits("gsm8k", Path(gsm8k)).size(
        "validation"
    )
    with pytest.raises(InvalidInputError, match="splits: train, validation, test, all"):
        check_inputs(EvalConfig(task="svamp", data=svamp, split="dev"), STORE)


def test_the_store_hash_is_the_manifests() -> None:
    import hashlib

    expected = hashlib.sha256((STORE / "manifest.json").read_bytes()).hexdigest()
    assert store_hash(STORE) == expected


def test_the_cli_fails_fast_with_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["eval", "--store", str(tmp_path / "none"), "--out", str(tmp_path / "run")]
    )
    assert result.exit_code != 0
    assert "neither a model store folder nor a spec file" in str(result.exception) + (result.output)
    assert not (tmp_path / "run").exists()
    result = CliRunner().invoke(app, ["eval", "--out", str(tmp_path / "r"), "--rows", "beam"])
    assert "unknown rows ['beam']" in str(result.exception) + result.output
