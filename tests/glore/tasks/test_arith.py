import hashlib
from fractions import Fraction

import pytest

from glore.errors import ConfigError, InvalidInputError
from glore.formats import check_annotation, find_annotations, parse_solution, step_value
from glore.tasks import get_task
from glore.tasks.arith import ArithConfig, ArithTask, split_of


def _digest(problems: list) -> str:  # type: ignore[type-arg]
    return hashlib.sha256(
        "\n".join(p.question + p.solution.text for p in problems).encode()
    ).hexdigest()


def test_deterministic_by_seed() -> None:
    a = get_task("arith", seed=3).load("train", 200)
    b = get_task("arith", seed=3).load("train", 200)
    c = get_task("arith", seed=4).load("train", 200)
    assert _digest(a) == _digest(b) != _digest(c)


def test_splits_are_disjoint_by_question_hash() -> None:
    task = ArithTask(seed=0)
    questions = {
        s: {p.question for p in task.load(s, 1000)} for s in ("train", "validation", "test")
    }
    assert not questions["train"] & questions["validation"]
    assert not questions["train"] & questions["test"]
    assert not questions["validation"] & questions["test"]
    for split, qs in questions.items():
        assert len(qs) == 1000  # no duplicates inside a split
        assert {split_of(q) for q in qs} == {split}
    hard = {p.question for p in task.load("hard", 300)}
    assert not hard & questions["train"]


def test_hard_split_has_more_steps_than_training() -> None:
    task = ArithTask(seed=0)
    train_steps = {p.meta["steps"] for p in task.load("train", 500)}
    hard_steps = {p.meta["steps"] for p in task.load("hard", 200)}
    assert max(train_steps) < min(hard_steps)
    assert train_steps == set(range(task.config.min_steps, task.config.max_steps + 1))


def test_solutions_are_consistent() -> None:
    for p in ArithTask(seed=1).load("validation", 300):
        sol = p.solution
        assert sol is not None and parse_solution(sol.text) == sol
        assert sol.answer == p.answer == p.meta["values"][-1]
        assert len(sol.reasoning) == p.meta["steps"] == len(p.meta["values"])
        for step, value in zip(sol.reasoning, p.meta["values"], strict=True):
            (annotation,) = find_annotations(step)
            assert check_annotation(annotation) == "ok"
            assert step_value(step) == Fraction(value)
        assert all(0 <= v <= ArithTask().config.max_value for v in p.meta["values"])


def test_task_has_the_promised_variety() -> None:
    problems = ArithTask(seed=2).load("train", 2000)
    ops = {op for p in problems for op in p.meta["ops"]}
    assert ops == {"add", "sub", "mul", "div", "group", "transfer"}
    # Some numbers are introduced one sentence and used later: a fact, then other sentences.
    assert any("Each " in p.question and " of " in p.question for p in problems)
    # Distractors: sentences whose numbers no step uses.
    unused = 0
    for p in problems:
        step_numbers = {n for s in p.solution.reasoning for n in _ints(s)}
        unused += any(n not in step_numbers for n in _ints(p.question))
    assert unused > len(problems) // 4


def _ints(text: str) -> set[int]:
    return {int(t) for t in text.replace(".", " ").replace("<", " ").split() if t.isdigit()}


def test_bad_config_and_split_are_rejected() -> None:
    with pytest.raises(ConfigError, match="max_steps"):
        ArithConfig(min_steps=3, max_steps=2)
    with pytest.raises(ConfigError, match="ops"):
        ArithConfig(ops=("pow",))
    with pytest.raises(InvalidInputError, match="splits: train"):
        ArithTask().load("dev", 1)


def test_knobs_change_difficulty() -> None:
    easy = ArithTask(config=ArithConfig(min_steps=1, max_steps=1, ops=("add",), max_distractors=0))
    for p in easy.load("test", 50):
        assert p.meta["steps"] == 1 and p.meta["ops"] == ["add"]
        assert p.question.count(".") == 2  # the opening sentence and the one event
