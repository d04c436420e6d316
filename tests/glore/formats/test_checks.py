"""Exact step checks on free text: each kind of slip, unsupported quantities, properties,
hostile input, and the task's own references."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glore.formats import check_steps, first_wrong, format_answer, repair_step
from glore.formats.checks import check_step
from glore.formats.equations import find_equations
from glore.tasks.registry import get_task

MIA = (
    "Mia has 12 apples. Each bag holds 6 apples. Mia buys 3 bags of apples. "
    "How many apples does Mia have now?"
)


def test_the_readme_slip_is_found_with_its_correct_value() -> None:
    steps = [
        "The 3 bags hold 3 x 6 = <<3*6=18>>18 apples.",
        "Mia now has 12 + 18 = <<12+18=31>>31 apples.",
        "#### 31",
    ]
    checks = check_steps(MIA, steps)
    assert [c.check for c in checks] == ["ok", "wrong", "unchecked"]
    assert first_wrong(checks) == 1
    assert checks[1].expected == "30" and checks[1].equation == "12 + 18 = 31"
    assert checks[2].reason == "no equation to check"


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("Mia now has 12 + 18 = 31 apples.", "30"),  # sum
        ("The bags hold 3 × 6 = 19 apples.", "18"),  # product
        ("Each friend gets 18 ÷ 3 = 5 apples.", "6"),  # division
        ("Each friend gets 18 / 4 = 4.2 apples.", "4.5"),  # division to a decimal
        ("In all 12 + 6 + 3 = 20 apples.", "21"),  # chained operands
        ("That is 3 x 6 = 18 = 19 apples.", "18"),  # a chain of equalities
        ("She keeps (12 + 6) x 2 = 38.", "36"),  # parentheses
        ("The discount is 20% of 50 = 12 dollars.", "10"),  # percent
        ("A share is 50/200 = 20%.", "25%"),  # a percent result
        ("Half is 1/2 x 12 = 7 apples.", "6"),  # a fraction
        ("They cost $1,200 + $300 = $1,600.", "1500"),  # currency and commas
        ("12 apples + 18 apples = 31 apples", "30"),  # units
        ("She eats 2.5 + 0.75 = 3.5 pies.", "3.25"),  # decimals
        ("3 times 6 = 20", "18"),  # a word operator
    ],
)
def test_each_kind_of_slip_is_wrong_with_the_correct_value(step: str, expected: str) -> None:
    check = check_step(step, set())
    assert check.check == "wrong", check
    assert check.expected == expected


@pytest.mark.parametrize(
    "step",
    [
        "Mia now has 12 + 18 = 30 apples.",
        "The 3 bags hold 3 x 6 = <<3*6=18>>18 apples.",
        "Each friend gets 18 ÷ 4 = 4.5 apples.",
        "Each gets 10/3 = 3.33 cups.",  # rounded to the decimals shown
        "So 100 / 6 = 16.66...% of them.",  # cut at the decimals shown
        "The discount is 20% of 50 = 10 dollars.",
        "They cost $1,200 + $300 = $1,500.",
        "Tax is 100 - 80 = 20%.",  # a percent that is the number itself
        "He spends 50 cents because $1 / 2 = 50 cents.",
        "The area of 1 bedroom = 11 * 11 = 121 square feet.",  # a label before a chain
        "He has 4-2=2 hours=120 minutes left.",  # the chain stops at a unit conversion
        "He uses 25 / 1/3 = 75 decorations.",  # a fraction written without spaces
        "(12 + 18 = 30)",
        "There are 5 classes * 30 students/class = 150 students.",  # a rate as a unit
        "Vlad = 6 ft * 12 in/ft + 3 = 75 inches",
        "He earns $50,000/year * 30 years = $1,500,000.",
    ],
)
def test_right_arithmetic_checks_ok(step: str) -> None:
    assert check_step(step, set()).check == "ok"


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        ("Let 2x = 10.", "a side has no number"),
        ("So 3x-5=16.", "a variable (x)"),
        ("Then Tom - 5 = 16.", "a side starts with a dash after a word"),
        ("Then 2x + 3 = 11.", "a variable (x)"),
        ("It takes 1 1/2 + 1/2 = 2 hours.", "two numbers side by side"),
        ("It arrives at 7:50 + 30 minutes = 8:20.", "a time of day"),
        ("2 hours = 120 minutes.", "nothing is computed"),
        ("10/3 = 3 full batches", "rounded to a whole number"),
        ("We get 12 x 1 and 1/4 = 15 cups", "a mixed number or a list"),
        ("Mia has 12 apples.", "no equation to check"),
    ],
)
def test_what_cannot_be_read_clearly_is_unchecked_not_wrong(step: str, reason: str) -> None:
    check = check_step(step, set())
    assert check.check == "unchecked"
    assert reason in (check.reason or "")


@pytest.mark.parametrize(
    "step",
    [
        "10**10**10 = 5",
        "(2**64)**64 = 1",
        "5 / 0 = 3",
        "(" * 300 + "1" + ")" * 300 + " + 1 = 2",
        "9" * 5000 + " + 1 = 2",
        "1" + " + 1" * 2000 + " = 2001",
        "= = = = 3 + 4 = = 7",
    ],
)
def test_hostile_input_is_unchecked_with_a_reason(step: str) -> None:
    check = check_step(step, set())
    assert check.check == "unchecked"
    assert check.reason


def test_a_quantity_from_nowhere_is_a_warning_not_an_error() -> None:
    steps = [
        "The 4 bags hold 4 x 6 = <<4*6=24>>24 apples.",  # 4 is in no sentence of MIA
        "Mia now has 12 + 24 = <<12+24=36>>36 apples.",  # 24 comes from step 1
    ]
    first, second = check_steps(MIA, steps)
    assert first.check == "ok" and first.warnings == ("unsupported quantity 4",)
    assert second.check == "ok" and second.warnings == ()


def test_number_words_and_percents_of_the_question_support_operands() -> None:
    question = "Ava has twelve pens and gives away 25% of them. How many are left?"
    (check,) = check_steps(question, ["She gives away 12 x 25% = 3 pens."])
    assert check.check == "ok" and check.warnings == ()


@given(
    a=st.integers(0, 10**6),
    b=st.integers(1, 10**4),
    op=st.sampled_from(["+", "-", "x", "×", "*", "/", "÷"]),
    unit=st.sampled_from(["", " apples", " dollars"]),
)
def test_generated_equations_check_ok_and_off_by_one_is_wrong(
    a: int, b: int, op: str, unit: str
) -> None:
    value = {"+": a + b, "-": a - b, "/": Fraction(a, b), "÷": Fraction(a, b)}.get(op, a * b)
    result = format_answer(Fraction(value))
    if "/" in result:  # no finite decimal: a writer would round, which is checked elsewhere
        return
    step = f"So {a}{unit} {op} {b}{unit} = {result}{unit}."
    assert check_step(step, set()).check == "ok", step
    off = format_answer(Fraction(value) + 1)
    wrong = check_step(f"So {a}{unit} {op} {b}{unit} = {off}{unit}.", set())
    assert wrong.check == "wrong" and wrong.expected == result


def test_arith_references_check_ok_with_every_quantity_supported() -> None:
    problems = get_task("arith").load("validation", 300)
    for p in problems:
        assert p.solution is not None
        checks = check_steps(p.question, list(p.solution.steps))
        assert all(c.check in ("ok", "unchecked") for c in checks), p.solution.text
        assert not any(c.warnings for c in checks), p.solution.text
        assert sum(c.check == "ok" for c in checks) == len(p.solution.steps) - 1


def test_a_chain_is_one_equation() -> None:
    (eq,) = find_equations("So 4 + 5 = 9 = 3 x 3 apples.")
    assert eq.sides == ("4 + 5", "9", "3 * 3") and eq.operands == ("4", "5")


@pytest.mark.parametrize(
    ("step", "repaired"),
    [
        (
            "Mia now has 12 + 18 = <<12+18=31>>31 apples.",
            "Mia now has 12 + 18 = <<12+18=30>>30 apples.",
        ),
        ("Mia now has 12 + 18 = 31 apples.", "Mia now has 12 + 18 = 30 apples."),
        ("A share is 50/200 = 20%.", "A share is 50/200 = 25%."),
        ("So 3 x 6 = <<3*6=18>>20 apples.", None),  # the slip is outside the annotation
        ("Mia now has 12 + 18 = 30 apples.", None),  # nothing to repair
    ],
)
def test_repair_step_replaces_the_wrong_result_by_the_correct_value(
    step: str, repaired: str | None
) -> None:
    (check,) = check_steps(MIA, [step])
    assert repair_step(step, check) == repaired
    if repaired is not None:
        assert check_steps(MIA, [repaired])[0].check == "ok"


@pytest.mark.parametrize(
    ("step", "want"),
    [
        ("The 3 bags hold 3 x 6 = 18 apples.", "The 3 bags hold 3 x 6 = <<3*6=18>>18 apples."),
        ("Mia has 12 + 18 = 31 apples.", "Mia has 12 + 18 = <<12+18=31>>31 apples."),  # kept wrong
        ("He pays $5 x 3 = $15.", "He pays $5 x 3 = $<<5*3=15>>15."),
        ("(3 + 4) * 2 = 14, and 14 - 4 = 10.",
         "(3 + 4) * 2 = <<(3+4)*2=14>>14, and 14 - 4 = <<14-4=10>>10."),
        ("In all 1,200 + 300 = 1,500 cars", "In all 1,200 + 300 = <<1200+300=1500>>1,500 cars"),
        ("Mia has 3 x 6 = <<3*6=18>>18 apples.", "Mia has 3 x 6 = <<3*6=18>>18 apples."),  # has one
        ("So 2 hours = 120 minutes.", "So 2 hours = 120 minutes."),  # nothing computed
        ("a + b = c = d", "a + b = c = d"),  # no numbers
        ("#### 31", "#### 31"),
    ],
)  # fmt: skip
def test_annotate_writes_a_plain_equation_in_the_models_format(step: str, want: str) -> None:
    from glore.formats import annotate

    assert annotate(step) == want
