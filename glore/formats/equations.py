"""Equations stated in free text (`12 + 18 = 30 apples`, `$5 x 3 = $15`, `a + b = c = d`).

A step is cut into tokens (numbers, operators, `=`, words, other marks). From every `=`
the arithmetic is followed backwards and forwards: numbers, operators and parentheses,
with unit words between them skipped (`12 apples + 18 apples`) and a few word operators
read (`times`, `plus`, `minus`, `divided by`, `20% of`). An equation is returned only where
its extent is clear; a side that starts mid-expression, a number glued to a variable
(`2x = 10`) or two numbers side by side (`1 1/2`) make it `unclear`, which a checker
must treat as nothing to check: a false alarm costs a tutor more than a missed one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

_TOKEN = re.compile(
    r"(?P<num>[$€£]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?%?|[$€£]?\.\d+%?)"
    r"|(?P<word>[A-Za-z]+)"
    r"|(?P<eq>=)"
    r"|(?P<op>\*\*|[-+*/×÷·^()−–])"
    r"|(?P<other>\S)"
)
_WORD_OPS = {"times": "*", "plus": "+", "minus": "-", "x": "*", "X": "*"}
"""Read as operators only between two values (`3 x 6`, `3 bags x 6`)."""
_BY_OPS = {"divided": "/", "multiplied": "*"}
_OPS = {"×": "*", "·": "*", "÷": "/", "−": "-", "–": "-", "^": "**"}
_SAFE_SINGLE = {"a", "A", "I"}
_LEADING_ZERO = re.compile(r"[$€£]?0\d")
_HUNDREDTHS = {"cents", "cent", "percent"}
_NOT_UNITS = {
    "and", "or", "so", "because", "then", "is", "are", "was", "were", "be", "which", "that",
    "to", "from", "for", "of", "by", "at", "in", "on", "with", "than", "per", "each", "if",
    "as", "but", "it", "he", "she", "they", "we", "you", "his", "her", "their", "more", "less",
}  # fmt: skip
"""Words that never name a unit: a sentence goes on across them."""


@dataclass
class Token:
    kind: str
    """num, op, eq, word, other; `unit` for a word skipped inside arithmetic."""
    text: str
    start: int
    end: int
    op: str = ""
    """The operator in the evaluator's grammar (op tokens and word operators)."""
    from_word: bool = False
    """A word read as an operator (`times`): it continues a left side, never a result."""


@dataclass(frozen=True)
class Equation:
    """Sides in the evaluator's grammar (`exact.exact_value`), in the order written."""

    text: str
    sides: tuple[str, ...]
    operands: tuple[str, ...]
    """The numbers of the first side, as written: the quantities the step uses."""
    hundredths: bool = False
    """The result is followed by `cents` or `percent`: it may be in hundredths."""
    operators: int = 0
    """Binary operators over all sides: 0 means nothing is computed (`2 hours = 120`)."""
    unclear: str | None = None
    """Why the equation's extent is not clear (then it is not checked)."""
    result: tuple[int, int] | None = None
    """Where the last side stands in the text (start, end), if it has any token."""


def tokenize(text: str) -> list[Token]:
    """Tokens of `text`, with word operators, rates and units already read."""
    tokens = [
        Token(m.lastgroup or "other", m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text)
    ]
    for t in tokens:
        if t.kind == "op":
            t.op = _OPS.get(t.text, t.text)
    for i in range(len(tokens)):  # operators first: a unit is read by the operator after it
        _read_operator_word(tokens, i)
    for i in range(len(tokens)):
        _read_rate(tokens, i)
    for i in range(len(tokens)):
        _read_unit(tokens, i)
    return [t for t in tokens if t.kind != "drop"]


def _at(tokens: list[Token], i: int) -> Token | None:
    return tokens[i] if 0 <= i < len(tokens) else None


def _value_end(t: Token | None) -> bool:
    return t is not None and (t.kind == "num" or (t.kind == "op" and t.op == ")"))


def _value_start(t: Token | None) -> bool:
    return t is not None and (t.kind == "num" or (t.kind == "op" and t.op in ("(", "-")))


def _operand(t: Token | None) -> bool:
    """What may follow a word operator: a number or `(` (not `-`: `3x-5` is algebra)."""
    return t is not None and (t.kind == "num" or t.op == "(")


def _after_value(tokens: list[Token], i: int) -> bool:
    """Token i follows a value, directly or across one word (`3 bags x 6`)."""
    prev = _at(tokens, i - 1)
    if _value_end(prev):
        return True
    return prev is not None and prev.kind == "word" and _value_end(_at(tokens, i - 2))


def _read_operator_word(tokens: list[Token], i: int) -> None:
    t = tokens[i]
    if t.kind != "word":
        return
    word, nxt = t.text, _at(tokens, i + 1)
    if word in _WORD_OPS and _operand(nxt) and _after_value(tokens, i):
        t.kind, t.op, t.from_word = "op", _WORD_OPS[word], len(word) > 1
    elif word.lower() in _BY_OPS and nxt is not None and nxt.text == "by":
        if _value_start(_at(tokens, i + 2)) and _after_value(tokens, i):
            t.kind, t.op, t.from_word, nxt.kind = "op", _BY_OPS[word.lower()], True, "drop"
    elif word == "of" and _operand(nxt) and _percent(_at(tokens, i - 1)):
        t.kind, t.op, t.from_word = "op", "*", True


def _percent(t: Token | None) -> bool:
    return t is not None and t.kind == "num" and t.text.endswith("%")


def _read_rate(tokens: list[Token], i: int) -> None:
    """`/` before a word is part of a unit (`30 students/class`, `$50,000/year`): nothing
    divides by a word."""
    t, nxt, prev = tokens[i], _at(tokens, i + 1), _at(tokens, i - 1)
    if t.kind != "op" or t.op != "/" or nxt is None or nxt.kind != "word" or prev is None:
        return
    if len(nxt.text) < 2 or nxt.text.lower() in _NOT_UNITS:
        return
    if _value_end(prev):
        t.kind = nxt.kind = "unit"  # `$50,000/year`
    elif prev.kind == "word" and _value_end(_at(tokens, i - 2)):
        prev.kind = t.kind = nxt.kind = "unit"  # `30 students/class`, `12 in/ft`


def _read_unit(tokens: list[Token], i: int) -> None:
    """A word between a value and an operator or `=` is a unit (`12 apples + 18 apples`)."""
    t, nxt = tokens[i], _at(tokens, i + 1)
    if t.kind != "word" or len(t.text) < 2 or t.text.lower() in _NOT_UNITS:
        return
    if not _value_end(_at(tokens, i - 1)):
        return
    if nxt is not None and (
        nxt.kind == "eq" or (nxt.kind == "op" and nxt.op != "(") or nxt.kind == "unit"
    ):
        t.kind = "unit"


def _in_arithmetic(t: Token) -> bool:
    return t.kind in ("num", "op", "unit")


def _glued_fraction(run: list[Token], i: int) -> bool:
    """`1/3` written without spaces binds tighter than the `/` around it (`25 / 1/3`)."""
    if i + 2 >= len(run):
        return False
    a, slash, b = run[i], run[i + 1], run[i + 2]
    return (
        a.kind == b.kind == "num"
        and slash.op == "/"
        and a.end == slash.start
        and slash.end == b.start
    )


def _number(t: Token) -> str:
    return t.text.lstrip("$€£").replace(",", "")


def _side(run: list[Token]) -> tuple[str, list[str]]:
    parts, numbers, i = [], [], 0
    while i < len(run):
        t = run[i]
        if _glued_fraction(run, i):
            parts.append(f"({_number(t)} / {_number(run[i + 2])})")
            numbers += [t.text, run[i + 2].text]
            i += 3
            continue
        if t.kind == "num":
            parts.append(_number(t))
            numbers.append(t.text)
        elif t.kind == "op":
            parts.append(t.op)
        i += 1
    return " ".join(parts), numbers


def _trim_parens(run: list[Token], leading: bool) -> list[Token]:
    """Drop parentheses that open before the equation or close after it: `(3 + 4 = 7)`."""
    depth = sum((t.op == "(") - (t.op == ")") for t in run if t.kind == "op")
    while depth > 0 and leading and run and run[0].op == "(":
        run, depth = run[1:], depth - 1
    while depth < 0 and not leading and run and run[-1].op == ")":
        run, depth = run[:-1], depth + 1
    return run


def _unclear(before: Token | None, run: list[Token], after: Token | None) -> str | None:
    if not any(t.kind == "num" for t in run):
        return "a side has no number"
    return _edges(before, run, after) or _shape(before, run)


def _edges(before: Token | None, run: list[Token], after: Token | None) -> str | None:
    """What borders a side: a number, a variable or a clock time make its extent unclear."""
    for edge in (before, after):
        if edge is None:
            continue
        if edge.kind == "num":
            return "two numbers side by side"
        glued = edge.end == run[0].start or run[-1].end == edge.start
        if edge.kind == "word" and len(edge.text) == 1 and (edge.text not in _SAFE_SINGLE or glued):
            return f"a variable ({edge.text})"
        if edge.text == ":" and glued:
            return "a time of day"
    return None


def _shape(before: Token | None, run: list[Token]) -> str | None:
    if any(t.kind == "num" and _LEADING_ZERO.match(t.text) for t in run):
        return "a number with a leading zero (a time or a code)"
    first, last = run[0], run[-1]
    if first.kind == "unit":
        return "a side starts with a unit"
    if first.kind == "op" and first.op not in ("(", "-"):
        return "a side starts with an operator"
    if first.kind == "op" and first.op == "-" and before is not None and before.kind == "word":
        return "a side starts with a dash after a word"
    if last.kind == "op" and last.op != ")":
        return "a side ends with an operator"
    for a, b in pairwise(run):
        if _value_end(a) and (b.kind == "num" or b.op == "("):
            return "two numbers side by side"
    depth = 0
    for t in run:
        depth += (t.op == "(") - (t.op == ")") if t.kind == "op" else 0
        if depth < 0:
            return "unbalanced parentheses"
    return "unbalanced parentheses" if depth else None


def find_equations(text: str) -> list[Equation]:
    """Every equation stated in `text`, chains (`a = b = c`) as one."""
    tokens = tokenize(text)
    eqs = [i for i, t in enumerate(tokens) if t.kind == "eq"]
    out: list[Equation] = []
    k = 0
    while k < len(eqs):
        chain = [eqs[k]]
        while k + 1 < len(eqs) and all(
            _in_arithmetic(t) for t in tokens[chain[-1] + 1 : eqs[k + 1]]
        ):
            k += 1
            chain.append(eqs[k])
        out.append(_equation(text, tokens, chain))
        k += 1
    return out


def _equation(text: str, tokens: list[Token], chain: list[int]) -> Equation:
    lo = chain[0]
    while lo > 0 and _in_arithmetic(tokens[lo - 1]):
        lo -= 1
    hi = chain[-1] + 1
    while hi < len(tokens) and _in_arithmetic(tokens[hi]) and not tokens[hi].from_word:
        hi += 1
    runs = [tokens[a + 1 : b] for a, b in zip([lo - 1, *chain], [*chain, hi], strict=True)]
    before, after = _at(tokens, lo - 1), _at(tokens, hi)
    unclear = None
    unclear = _broken(tokens, lo, hi)
    runs, before, after = _labels_and_conversions(runs, before, after)
    runs[0] = _trim_parens(runs[0], leading=True)
    runs[-1] = _trim_parens(runs[-1], leading=False)
    while runs[-1] and runs[-1][-1].kind == "unit":
        after = runs[-1][-1]
        runs[-1] = runs[-1][:-1]
    start = runs[0][0].start if runs[0] else tokens[chain[0]].start
    end = runs[-1][-1].end if runs[-1] else tokens[chain[-1]].end
    for j, run in enumerate(runs):
        edge_before = before if j == 0 else None
        edge_after = after if j == len(runs) - 1 else None
        unclear = unclear or _unclear(edge_before, run, edge_after)
    sides = [_side(run) for run in runs]
    hundredths = after is not None and after.text.lower() in _HUNDREDTHS
    return Equation(
        text[start:end],
        tuple(s for s, _ in sides),
        tuple(sides[0][1]),
        hundredths,
        sum(_binary(run) for run in runs),
        unclear,
        (runs[-1][0].start, runs[-1][-1].end) if runs[-1] else None,
    )


def _broken(tokens: list[Token], lo: int, hi: int) -> str | None:
    """Arithmetic that goes on across a word or a comma is not one clear equation."""
    before, before2 = _at(tokens, lo - 1), _at(tokens, lo - 2)
    after, after2 = _at(tokens, hi), _at(tokens, hi + 1)
    if before is not None and before.text == "and" and _value_end(before2):
        return "a mixed number or a list (`1 and 1/4`)"
    if before is not None and before.text == "," and _value_end(before2):
        return "a number split at its comma, or a list"
    if _word_then_op(before, before2, ")") or _word_then_op(after, after2, "()"):
        return "an expression broken by words"
    return None


def _word_then_op(word: Token | None, op: Token | None, brackets: str) -> bool:
    if word is None or op is None or word.kind != "word":
        return False
    return op.kind == "op" and op.op not in brackets


def _labels_and_conversions(
    runs: list[list[Token]], before: Token | None, after: Token | None
) -> tuple[list[list[Token]], Token | None, Token | None]:
    """`1 bedroom = 11 * 11 = 121`: a leading side that computes nothing is a label.
    `4 - 2 = 2 hours = 120 minutes`: the chain ends before a unit conversion."""
    while len(runs) > 2 and all(t.kind in ("num", "unit") for t in runs[0]):
        runs, before = runs[1:], None
    for j in range(1, len(runs) - 1):
        if _binary(runs[j]) == 0 and runs[j] and runs[j][-1].kind == "unit":
            return runs[: j + 1], before, runs[j][-1]
    return runs, before, after


def _binary(run: list[Token]) -> int:
    """Operators with a value on their left (a leading or bracketed `-` is a sign)."""
    return sum(
        1
        for prev, t in zip([None, *run], run, strict=False)
        if t.kind == "op"
        and t.op not in ("(", ")")
        and (_value_end(prev) or (prev is not None and prev.kind == "unit"))
    )


_PLAIN_RESULT = re.compile(r"[$€£]?(?P<value>\d[\d,]*(?:\.\d+)?)")


def annotate(step: str) -> str:
    """`step` in the models' own format: a calculator annotation before the result of each
    clear, computed `a op b = c` it states without one (`3 x 6 = 18 apples` -> `3 x 6 =
    <<3*6=18>>18 apples`), as every task's solutions write it. The claimed result is kept,
    right or wrong: the reward models judge the working as written. A step that holds an
    annotation already, or no such equation, is returned as it is."""
    if "<<" in step or "=" not in step:
        return step
    out = step
    for eq in reversed(find_equations(step)):
        if eq.unclear or not eq.operators or len(eq.sides) != 2 or eq.result is None:
            continue
        start, end = eq.result
        m = _PLAIN_RESULT.fullmatch(step[start:end])
        if m is None:
            continue
        value = m.group("value").replace(",", "")
        at = start + m.start("value")
        expr = eq.sides[0].replace(" ", "")
        out = f"{out[:at]}<<{expr}={value}>>{out[at:]}"
    return out


__all__ = ["Equation", "annotate", "find_equations", "tokenize"]
