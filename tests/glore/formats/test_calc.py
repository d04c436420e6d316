from fractions import Fraction

import pytest

from glore.formats import (
    check_annotation,
    evaluate,
    find_annotations,
    step_value,
    strip_annotations,
)


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("48/2 = <<48/2=24>>24", "ok"),
        ("<<10/3=3.33>>", "rounded"),
        ("<<12*3=37>>", "wrong"),
        ("<<2**3=8>>", "ok"),
        ("<<1,000*2=2,000>>", "ok"),
        ("<<20*.01=.2>>", "ok"),
        ("<<5x3=15>>", "ok"),
        ("<<50%*10=5>>", "ok"),
        ("<<__import__('os')=2>>", "unparsed"),
        ("<<1/0=2>>", "unparsed"),
    ],
)
def test_check_annotation(text: str, status: str) -> None:
    (annotation,) = find_annotations(text)
    assert check_annotation(annotation) == status


def test_evaluate_is_exact() -> None:
    assert evaluate("0.1+0.2") == Fraction(3, 10)
    assert evaluate("(3+4)*2-1") == 13
    assert evaluate("2**1000000") is None


def test_step_value_and_strip() -> None:
    step = "Ray has 12 + 12 = <<12+12=24>>24 books."
    assert step_value(step) == 24
    assert strip_annotations(step) == "Ray has 12 + 12 = 24 books."
    assert step_value("no annotation: 3 and then 9 books") == 9
    assert step_value("nothing") is None
