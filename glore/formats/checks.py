"""Exact step checks: is each step's arithmetic right, and where do its numbers come from?

Per step, every calculator annotation and every equation stated in the text
(`glore.formats.equations`) is evaluated exactly (`glore.formats.exact`). A step is
`wrong` when any of them is (with the correct value), `ok` when at least one checks and
none is wrong, else `unchecked` (with the reason). An operand that is neither in the
question nor a result of an earlier step gets a warning, not an error: a student may
compute it in their head, but a wrongly copied quantity is the default student's most
common slip.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from glore.formats.answers import format_answer, numbers_in, parse_number
from glore.formats.calc import check_annotation, find_annotations, strip_annotations
from glore.formats.equations import Equation, find_equations
from glore.formats.exact import UnevaluableError, evaluate, exact_value

Check = Literal["ok", "wrong", "unchecked"]
CHECKS: tuple[Check, ...] = ("ok", "wrong", "unchecked")

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "hundred": 100, "thousand": 1000, "dozen": 12, "twice": 2,
    "double": 2, "triple": 3, "thrice": 3, "half": 2, "third": 3, "quarter": 4,
    "percent": 100,
}  # fmt: skip
_ALWAYS_SUPPORTED = (Fraction(0), Fraction(1))
_LITERAL = re.compile(r"\d+(?:\.\d+)?%?|\.\d+%?")


@dataclass(frozen=True)
class EquationCheck:
    text: str
    check: Check
    expected: str | None = None
    """The correct value, when `check` is `wrong`."""
    reason: str | None = None
    """Why it was not checked, when `check` is `unchecked`."""


@dataclass(frozen=True)
class StepCheck:
    check: Check
    expected: str | None = None
    """The correct value of the step's first wrong equation."""
    equation: str | None = None
    """The first wrong equation as written."""
    reason: str | None = None
    """Why nothing was checked, when `check` is `unchecked`."""
    warnings: tuple[str, ...] = ()
    equations: tuple[EquationCheck, ...] = field(default=())


def _decimals(side: str) -> int:
    return len(side.rstrip("%").partition(".")[2]) if "." in side else 0


def _agrees(value: Fraction, claimed: Fraction, claimed_text: str) -> bool:
    """Equal, or the claim is `value` rounded or cut to the decimals it shows (`10/3 = 3.33`,
    `100/6 = 16.66...`)."""
    places = _decimals(claimed_text.rsplit(maxsplit=1)[-1])
    return value == claimed or (places > 0 and abs(value - claimed) < Fraction(1, 10**places))


def _values(sides: Sequence[str], percent: bool) -> list[Fraction]:
    return [exact_value(s if percent else s.replace("%", "")) for s in sides]


def _expected(eq: Equation, frac: list[Fraction], plain: list[Fraction], k: int) -> str:
    """The correct value of side k, written the way the claim is (a percent if it is one)."""
    if not eq.sides[k].endswith("%"):
        return format_answer(frac[0])
    options = [frac[0] * 100, plain[0]]
    return format_answer(min(options, key=lambda v: abs(v - plain[k]))) + "%"


def check_equation(eq: Equation) -> EquationCheck:
    """Either reading of `%` (a hundredth, or the number itself) may make it hold."""
    if eq.unclear is not None:
        return EquationCheck(eq.text, "unchecked", reason=eq.unclear)
    if eq.operators == 0:
        return EquationCheck(eq.text, "unchecked", reason="nothing is computed")
    try:
        frac, plain = _values(eq.sides, True), _values(eq.sides, False)
    except UnevaluableError as exc:
        return EquationCheck(eq.text, "unchecked", reason=str(exc))
    for k in range(1, len(eq.sides)):
        side = eq.sides[k]
        if _agrees(frac[0], frac[k], side) or _agrees(plain[0], plain[k], side):
            continue
        if eq.hundredths and _agrees(plain[0] * 100, plain[k], side):
            continue  # `$1 / 2 = 50 cents`
        if frac[0].denominator != 1 and frac[k] in (frac[0] // 1, frac[0] // 1 + 1):
            return EquationCheck(eq.text, "unchecked", reason="rounded to a whole number")
        return EquationCheck(eq.text, "wrong", expected=_expected(eq, frac, plain, k))
    return EquationCheck(eq.text, "ok")


def _annotation_checks(step: str) -> list[EquationCheck]:
    out = []
    for a in find_annotations(step):
        status, text = check_annotation(a), f"<<{a.expr}={a.result_text}>>"
        if status in ("ok", "rounded"):
            out.append(EquationCheck(text, "ok"))
        elif status == "wrong":
            value = evaluate(a.expr)
            expected = None if value is None else format_answer(value)
            out.append(EquationCheck(text, "wrong", expected=expected))
        else:
            out.append(EquationCheck(text, "unchecked", reason="not arithmetic"))
    return out


def quantities(text: str) -> set[Fraction]:
    """The numbers a text states: digits (a percent also as its fraction) and number words."""
    found = set(numbers_in(text))
    found |= {n / 100 for n in found} if "%" in text or "percent" in text else set()
    words = {w.strip(".,;:!?()").lower() for w in text.split()}
    found |= {Fraction(v) for w, v in _NUMBER_WORDS.items() if w in words}
    return found


def _operand_value(written: str) -> Iterable[Fraction]:
    value = parse_number(written.rstrip("%"))  # None past the digits a number may have
    if value is None:
        return ()
    return (value, value / 100) if written.endswith("%") else (value,)


def _results(step: str) -> set[Fraction]:
    """What a step makes available to later ones: every value it states or computes."""
    plain = strip_annotations(step)
    out = quantities(plain)
    for eq in find_equations(plain):
        out |= {v for v in map(evaluate, eq.sides) if v is not None}
    return out | {a.claimed for a in find_annotations(step) if a.claimed is not None}


def check_step(step: str, supported: set[Fraction]) -> StepCheck:
    """Check one step; `supported` holds the quantities known before it."""
    equations = find_equations(strip_annotations(step))
    # What the reader sees first; an annotation repeats it for the calculator.
    checks = [check_equation(eq) for eq in equations] + _annotation_checks(step)
    operands = [o for eq in equations if eq.unclear is None for o in eq.operands]
    operands += [
        o for a in find_annotations(step) for o in _LITERAL.findall(a.expr.replace(",", ""))
    ]
    warnings: list[str] = []
    for written in operands:
        values = _operand_value(written)
        warning = f"unsupported quantity {written.lstrip('$€£')}"
        if values and not any(v in supported for v in values) and warning not in warnings:
            warnings.append(warning)
    wrong = next((c for c in checks if c.check == "wrong"), None)
    if wrong is not None:
        return StepCheck("wrong", wrong.expected, wrong.text, None, tuple(warnings), tuple(checks))
    if any(c.check == "ok" for c in checks):
        return StepCheck("ok", warnings=tuple(warnings), equations=tuple(checks))
    reason = next((c.reason for c in checks if c.reason), "no equation to check")
    return StepCheck("unchecked", reason=reason, warnings=tuple(warnings), equations=tuple(checks))


def check_steps(question: str, steps: Sequence[str]) -> list[StepCheck]:
    """Check every step in order; each may use the question's and earlier steps' numbers."""
    supported = quantities(question) | set(_ALWAYS_SUPPORTED)
    out = []
    for step in steps:
        out.append(check_step(step, supported))
        supported |= _results(step)
    return out


_ANNOTATION_SHOWN = re.compile(r"<<(?P<expr>[^<>=]*)=(?P<claimed>[^<>]*)>>(?P<shown>\s*[-\d.,]+)?")


def repair_step(step: str, check: StepCheck) -> str | None:
    """The step with its first wrong result replaced by the correct value (`12 + 18 =
    <<12+18=31>>31` -> `... =<<12+18=30>>30`, or `12 + 18 = 31` -> `12 + 18 = 30`); None
    when the step is not wrong or its slip cannot be found in the text as written."""
    if check.check != "wrong" or check.expected is None:
        return None
    for m in _ANNOTATION_SHOWN.finditer(step):
        value = evaluate(m.group("expr"))
        claimed = parse_number(m.group("claimed"))
        if value is None or claimed is None or value == claimed:
            continue
        right = format_answer(value)
        shown = f" {right}" if (m.group("shown") or "").startswith(" ") else right
        fixed = f"<<{m.group('expr')}={right}>>{shown if m.group('shown') else ''}"
        return step[: m.start()] + fixed + step[m.end() :]
    if find_annotations(step) or check.equation is None or check.equation not in step:
        return None
    head, _, _ = check.equation.rpartition("=")
    return step.replace(check.equation, f"{head.rstrip()} = {check.expected}", 1)


def first_wrong(checks: Sequence[StepCheck]) -> int | None:
    """The first step whose arithmetic is wrong, or None."""
    return next((i for i, c in enumerate(checks) if c.check == "wrong"), None)


__all__ = [
    "CHECKS",
    "Check",
    "EquationCheck",
    "StepCheck",
    "check_equation",
    "check_step",
    "check_steps",
    "first_wrong",
    "quantities",
    "repair_step",
]
