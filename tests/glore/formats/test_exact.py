"""The exact evaluator: rationals read from the text, and every unbounded input refused."""

import time
from fractions import Fraction

import pytest

from glore.formats.exact import MAX_BITS, UnevaluableError, evaluate, exact_value


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("0.1 + 0.2", Fraction(3, 10)),
        ("0.1000000000000000055511151231257827", Fraction("0.1000000000000000055511151231257827")),
        ("(3 + 4) x 2 - 1", Fraction(13)),
        ("3 × 6 ÷ 4", Fraction(9, 2)),
        ("1,200 + 300", Fraction(1500)),
        ("$5 * 3", Fraction(15)),
        ("20% * 50", Fraction(10)),
        ("2^10", Fraction(1024)),
        ("-3 - -4", Fraction(1)),
        ("10 − 4", Fraction(6)),
    ],
)
def test_written_arithmetic_is_exact(expr: str, value: Fraction) -> None:
    assert exact_value(expr) == value


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("10**10**10", "integer powers"),
        ("2**0.5", "integer powers"),
        ("(2**64)**64", "bits"),
        ("5 / 0", "division by zero"),
        ("0 ** -1", "division by zero"),
        ("(" * 60 + "1" + ")" * 60, "nested deeper"),
        ("-" * 100 + "1", "nested deeper"),
        ("9" * 400, "longer than"),
        ("__import__('os').system('true')", "not arithmetic"),
        ("[1, 2]", "not arithmetic"),
        ("1e5", "not arithmetic"),
        ("3 % 2", "not arithmetic"),
    ],
)
def test_hostile_input_is_refused_with_a_reason(expr: str, reason: str) -> None:
    with pytest.raises(UnevaluableError, match=reason):
        exact_value(expr)
    assert evaluate(expr) is None


def test_growth_is_bounded_before_it_is_computed() -> None:
    # Each power stays under the bound's check; the chain would reach 2**(64**4) bits.
    started = time.perf_counter()
    assert evaluate("((2**64)**64)**64") is None
    # 100 digits (332 bits) squared four times: 5,312 bits, past MAX_BITS.
    assert evaluate("((((" + "9" * 100 + ")**2)**2)**2)**2") is None
    assert time.perf_counter() - started < 2.0  # refused, not computed and then refused
    big = exact_value("((" + "9" * 100 + ")**2)**2")
    assert big == (10**100 - 1) ** 4 and big.numerator.bit_length() <= MAX_BITS
