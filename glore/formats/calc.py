"""GSM8K calculator annotations (`<<48/2=24>>`): found, evaluated exactly, and checked.

The annotations stay in the text the models read and write; these helpers let the SORM
consistency filter and the critique feature see which step computed what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from glore.formats.answers import numbers_in, parse_number
from glore.formats.exact import evaluate

ANNOTATION_RE = re.compile(r"<<(?P<expr>[^<>=]*)=(?P<result>[^<>]*)>>")


@dataclass(frozen=True)
class Annotation:
    expr: str
    result_text: str
    start: int
    end: int

    @property
    def claimed(self) -> Fraction | None:
        return parse_number(self.result_text)


CheckStatus = Literal["ok", "rounded", "wrong", "unparsed"]


def find_annotations(text: str) -> list[Annotation]:
    return [
        Annotation(m.group("expr"), m.group("result"), m.start(), m.end())
        for m in ANNOTATION_RE.finditer(text)
    ]


def strip_annotations(text: str) -> str:
    """The text a reader sees: annotations removed (`48/2 = <<48/2=24>>24` -> `48/2 = 24`)."""
    return ANNOTATION_RE.sub("", text)


def check_annotation(annotation: Annotation) -> CheckStatus:
    """`ok` if the claimed result is exact, `rounded` if it is the true value rounded to the
    decimals it shows (GSM8K writes `<<10/3=3.33>>`), `wrong` otherwise, `unparsed` if either
    side is not arithmetic."""
    value, claimed = evaluate(annotation.expr), annotation.claimed
    if value is None or claimed is None:
        return "unparsed"
    if value == claimed:
        return "ok"
    decimals = annotation.result_text.strip().rstrip("%").partition(".")[2]
    if decimals.isdigit() and abs(value - claimed) <= Fraction(1, 2 * 10 ** len(decimals)):
        return "rounded"
    return "wrong"


def step_value(step: str) -> Fraction | None:
    """The value a step computes: its last annotation's result, else its last number."""
    annotations = find_annotations(step)
    if annotations:
        return annotations[-1].claimed
    numbers = numbers_in(step)
    return numbers[-1] if numbers else None
