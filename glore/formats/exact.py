"""Exact arithmetic on untrusted text: `+ - * / **` and parentheses over rationals, bounded.

The text is parsed by the standard library's `ast` (a maintained parser of exactly this
grammar), walked with a whitelist of node types, and evaluated with `Fraction`: never
`eval`, never floats. Every number literal is read from the text itself, so `0.1` is 1/10
and not the nearest double. SymPy was the other candidate; its `parse_expr` and `sympify`
still run `eval` on the text they are given (SymPy PR 12524), and its rationals would add
nothing to `Fraction` for four operations.

Everything that could make the work unbounded is refused with a reason (`UnevaluableError`):
long text, deep nesting, large powers and numbers past `MAX_BITS`.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from fractions import Fraction

MAX_CHARS = 300
"""Longest expression evaluated (a step's arithmetic is far shorter)."""
MAX_DEPTH = 40
"""Deepest nesting of parentheses or operators evaluated."""
MAX_POWER = 64
"""Largest exponent of `**` (integers only)."""
MAX_BITS = 4096
"""Largest numerator or denominator, in bits (about 1,200 digits), of any value met."""

_BINOPS: dict[type[ast.operator], Callable[[Fraction, Fraction], Fraction]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: lambda a, b: Fraction(a // b),
}
_LITERAL = re.compile(r"\d+(?:\.\d+)?|\.\d+")


class UnevaluableError(ValueError):
    """The text is not bounded exact arithmetic; the message says why."""


def normalise(expr: str) -> str:
    """Written arithmetic as the evaluator's grammar: `1,000` -> `1000`, `$`, `×`, `÷`, `−`,
    `x` between numbers, `^` as a power and `50%` as `(50/100)`."""
    expr = re.sub(r"(?<=\d),(?=\d{3})", "", expr)
    for written, op in (("$", ""), ("×", "*"), ("·", "*"), ("÷", "/"), ("−", "-"), ("^", "**")):
        expr = expr.replace(written, op)
    expr = re.sub(r"(?<=[\d)\s])[xX](?=[\s\d(])", "*", expr)
    return re.sub(r"(\d+(?:\.\d+)?|\.\d+)\s*%", r"(\1/100)", expr)


def _bounded(value: Fraction) -> Fraction:
    if value.numerator.bit_length() > MAX_BITS or value.denominator.bit_length() > MAX_BITS:
        raise UnevaluableError(f"a value exceeds {MAX_BITS} bits")
    return value


def _power(left: Fraction, right: Fraction) -> Fraction:
    if right.denominator != 1 or abs(right) > MAX_POWER:
        raise UnevaluableError(f"only integer powers up to {MAX_POWER} are evaluated")
    size = max(left.numerator.bit_length(), left.denominator.bit_length())
    if size * abs(int(right)) > MAX_BITS:
        raise UnevaluableError(f"a value exceeds {MAX_BITS} bits")
    if left == 0 and right < 0:
        raise UnevaluableError("division by zero")
    return left ** int(right)


def _eval(node: ast.AST, literals: list[Fraction], depth: int) -> Fraction:
    if depth > MAX_DEPTH:
        raise UnevaluableError(f"nested deeper than {MAX_DEPTH}")
    if isinstance(node, ast.Expression):
        return _eval(node.body, literals, depth)
    if isinstance(node, ast.Name) and node.id.startswith("_n") and node.id[2:].isdigit():
        return literals[int(node.id[2:])]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _eval(node.operand, literals, depth + 1)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left = _eval(node.left, literals, depth + 1)
        right = _eval(node.right, literals, depth + 1)
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        if type(node.op) in _BINOPS:
            if right == 0 and isinstance(node.op, ast.Div | ast.FloorDiv):
                raise UnevaluableError("division by zero")
            return _bounded(_BINOPS[type(node.op)](left, right))
    raise UnevaluableError(f"not arithmetic ({type(node).__name__})")


def exact_value(expr: str) -> Fraction:
    """The exact value of written arithmetic (see `normalise`); `UnevaluableError` says why not."""
    if len(expr) > MAX_CHARS:
        raise UnevaluableError(f"longer than {MAX_CHARS} characters")
    literals: list[Fraction] = []

    def name(m: re.Match[str]) -> str:
        literals.append(_bounded(Fraction(m.group())))
        return f" _n{len(literals) - 1} "

    text = _LITERAL.sub(name, normalise(expr)).strip()
    depth = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if depth > MAX_DEPTH:
            raise UnevaluableError(f"nested deeper than {MAX_DEPTH}")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise UnevaluableError("not arithmetic") from exc
    return _eval(tree, literals, 0)


def evaluate(expr: str) -> Fraction | None:
    """Exact value of an arithmetic expression, or None when `exact_value` refuses it."""
    try:
        return exact_value(expr)
    except UnevaluableError:
        return None
