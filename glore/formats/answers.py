"""Numbers and final answers: parsed to exact rationals, compared exactly."""

from __future__ import annotations

import re
from fractions import Fraction

_DIGITS = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+"
# A sign only counts where it cannot be a binary minus ("27-4" is two numbers, "-4" is one).
NUMBER_RE = re.compile(
    rf"(?<![\w)\]])(?P<sign>[-−])?\s?\$?\s?(?P<num>{_DIGITS})"
    rf"(?:\s?/\s?(?P<den>{_DIGITS}))?(?P<pct>\s?%)?"
    rf"|(?P<bare>{_DIGITS})(?:\s?/\s?(?P<bden>{_DIGITS}))?(?P<bpct>\s?%)?"
)


_MAX_DIGITS = 1000
"""Longer digit runs are not read as numbers: Python refuses to convert ones over 4300
digits, and an answer's text must stay convertible (`format_answer`)."""


def _to_fraction(digits: str) -> Fraction:
    return Fraction(digits.replace(",", ""))


def _match_value(m: re.Match[str]) -> Fraction | None:
    num = m.group("num") or m.group("bare")
    den = m.group("den") or m.group("bden")
    if len(num) > _MAX_DIGITS or (den is not None and len(den) > _MAX_DIGITS):
        return None
    value = _to_fraction(num)
    if den is not None:
        denominator = _to_fraction(den)
        if denominator == 0:
            return None
        value /= denominator
    if m.group("sign"):
        value = -value
    return value


def numbers_in(text: str) -> list[Fraction]:
    """Every number in `text`, in order; commas, `$`, `%`, decimals, fractions, negatives.

    A percentage keeps its number (`50%` is 50): GSM8K states percent answers that way.
    """
    out: list[Fraction] = []
    for m in NUMBER_RE.finditer(text):
        value = _match_value(m)
        if value is not None:
            out.append(value)
    return out


def parse_number(text: str) -> Fraction | None:
    """The first number in `text`, or None if it holds none."""
    found = numbers_in(text)
    return found[0] if found else None


def format_answer(value: Fraction) -> str:
    """Canonical text of an answer: `72`, `-3`, `2.5`, or `1/3` when no finite decimal exists."""
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    if den != 1:
        return f"{value.numerator}/{value.denominator}"
    places = max(twos, fives)
    scaled = abs(value) * 10**places
    assert scaled.denominator == 1
    digits = str(scaled.numerator).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}".rstrip("0")


def answers_equal(
    predicted: Fraction | None, expected: Fraction, tolerance: Fraction | None = None
) -> bool:
    """Exact comparison; `tolerance` (absolute) only for datasets whose answers are rounded."""
    if predicted is None:
        return False
    if tolerance is None:
        return predicted == expected
    return abs(predicted - expected) <= tolerance
