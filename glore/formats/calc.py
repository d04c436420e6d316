"""GSM8K calculator annotations (`<<48/2=24>>`): found, evaluated exactly, and checked.

The annotations stay in the text the models read and write; these helpers let the SORM
consistency filter and the critique feature see which step computed what.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from glore.formats.answers import numbers_in, parse_number

ANNOTATION_RE = re.compile(r"<<(?P<expr>[^<>=]*)=(?P<result>[^<>]*)>>")

_BINOPS: dict[type[ast.operator], Callable[[Fraction, Fraction], Fraction]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: lambda a, b: Fraction(a // b),
}
_MAX_POWER = 64


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


def _normalise(expr: str) -> str:
    expr = re.sub(r"(?<=\d),(?=\d{3})", "", expr)
    expr = expr.replace("$", "").replace("×", "*").replace("÷", "/").replace("−", "-")
    expr = re.sub(r"(?<=[\d)\s])[xX](?=[\s\d(])", "*", expr)
    return re.sub(r"(\d+(?:\.\d+)?)\s*%", r"(\1/100)", expr)


def _eval(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return Fraction(str(node.value))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _eval(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            if right.denominator != 1 or abs(right) > _MAX_POWER:
                raise ValueError("only small integer powers")
            return left ** int(right)
        if type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](left, right)
    raise ValueError(f"unsupported expression element {type(node).__name__}")


def evaluate(expr: str) -> Fraction | None:
    """Exact value of an arithmetic expression (+ - * / ** and parentheses), or None."""
    try:
        return _eval(ast.parse(_normalise(expr).strip(), mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return None


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
