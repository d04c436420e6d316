"""Exact step labels on arith: a step is right when its arithmetic holds and its result is
one of the problem's true values; a prefix stays good only while every step is."""

from evaluation.step_labels import exact_labels
from glore.tasks.arith import ArithTask

PROBLEM = next(p for p in ArithTask().load("test", 20) if p.meta["steps"] >= 3)


def _reference() -> list[str]:
    assert PROBLEM.solution is not None
    return list(PROBLEM.solution.steps)


def test_the_reference_solution_is_good_at_every_step() -> None:
    steps = _reference()
    assert exact_labels(PROBLEM, steps, correct=True) == [True] * len(steps)


def test_an_arithmetic_slip_is_bad_from_that_step_on() -> None:
    steps = _reference()
    # Claim a wrong result in the first step's annotation and text.
    value = PROBLEM.meta["values"][0]
    steps[0] = steps[0].replace(f"={value}>>{value}", f"={value + 1}>>{value + 1}")
    assert f"={value + 1}>>" in steps[0]
    labels = exact_labels(PROBLEM, steps, correct=False)
    assert labels == [False] * len(steps)


def test_a_true_equation_on_a_wrong_quantity_is_bad() -> None:
    steps = _reference()
    steps[1] = "They now have 1 + 1 = <<1+1=2>>2 things."
    assert 2 not in PROBLEM.meta["values"]
    labels = exact_labels(PROBLEM, steps, correct=False)
    assert labels is not None
    assert labels[0] is True and not any(labels[1:])


def test_the_last_label_is_the_outcome_and_tasks_without_values_get_none() -> None:
    steps = _reference()
    labels = exact_labels(PROBLEM, steps, correct=False)
    assert labels is not None and labels[-1] is False and all(labels[:-1])
    bare = type(PROBLEM)("x", PROBLEM.question, PROBLEM.answer)
    assert exact_labels(bare, steps, correct=True) is None
