"""SVAMP from `SVAMP.json`: a JSON list of `{"ID", "Body", "Question", "Equation", "Answer",
"Type"}` entries. SVAMP has no splits of its own, so the task has one split, `all`.

The reference solution is one calculator-annotated step built from `Equation`, evaluated
exactly (`76 - 25 = <<76-25=51>>51`), then `#### 51`.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

from glore.errors import DatasetError, InvalidInputError
from glore.formats import Problem, Solution, evaluate, format_answer

SPLIT = "all"

# Answers are compared exactly (no tolerance). SVAMP stores answers as floats, which could
# be rounded, but every `Answer` in the MIT-licensed SVAMP.json is a whole number that its
# `Equation` reaches exactly (one known erratum aside, see ERRATA), so the smallest
# tolerance under which every reference matches is 0. The problem's answer is the exact
# equation value; an Answer that is merely its nearest float is accepted at load time, and
# one that disagrees otherwise fails the load instead of being matched loosely.
TOLERANCE: Fraction | None = None

# Entries whose `Answer` field is known to be wrong: ID -> (the wrong Answer, why). For these
# the exact equation value is the answer, and `meta` records the file's value. An entry not
# holding that wrong value is checked like any other.
ERRATA: dict[str, tuple[float, str]] = {
    "chal-680": (1.0, "4 apples, 2 picked, 3 grew: (4 - 2) + 3 = 5, as the Equation says"),
}

_TEXT_KEYS = ("ID", "Body", "Question", "Equation")
_NUMBER = r"\d+(?:\.\d+)?"
_TOKEN_RE = re.compile(rf"{_NUMBER}|[-+*/()]")
_EQUATION_RE = re.compile(rf"(?:\s*(?:{_NUMBER}|[-+*/()]))+\s*")


class SvampTask:
    """SVAMP read from the single file `path`; its one split is `all` (1,000 problems)."""

    name = "svamp"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetError(str(self.path), None, "no such file; pass the path of SVAMP.json")

    @property
    def splits(self) -> tuple[str, ...]:
        return (SPLIT,)

    def load(self, split: str, n: int | None = None) -> list[Problem]:
        """The first `n` problems (all when None), in file order.

        Raises DatasetError naming the file and entry (1-based) of the first malformed one.
        """
        if split != SPLIT:
            raise InvalidInputError(f"svamp has one split, {SPLIT!r}; got {split!r}")
        if n is not None and n < 0:
            raise InvalidInputError(f"n must be None or >= 0, got {n}")
        entries = _read_entries(self.path)
        problems: list[Problem] = []
        seen: set[str] = set()
        for number, entry in enumerate(entries[:n] if n is not None else entries, start=1):
            problem = _parse_entry(self.path, number, entry)
            if problem.id in seen:
                raise _bad(self.path, number, f"duplicate ID {entry['ID']!r}; IDs must be unique")
            seen.add(problem.id)
            problems.append(problem)
        return problems


def _bad(path: Path, number: int, what: str) -> DatasetError:
    return DatasetError(str(path), number, f"entry {number}: {what}")


def _read_entries(path: Path) -> list[Any]:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(str(path), None, f"cannot read as UTF-8 text: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(str(path), exc.lineno, f"invalid JSON ({exc.msg})") from exc
    if not isinstance(data, list):
        raise DatasetError(
            str(path), None, f"found a JSON {type(data).__name__}; expected a list of entries"
        )
    return data


def _parse_entry(path: Path, number: int, entry: Any) -> Problem:
    fields, dataset_answer = _fields(path, number, entry)
    display, expr = _format_equation(path, number, fields["Equation"])
    value = evaluate(expr)
    if value is None:
        raise _bad(path, number, f"Equation {fields['Equation']!r} cannot be evaluated")
    meta = {"svamp_id": fields["ID"], "equation": fields["Equation"]}
    if isinstance(entry.get("Type"), str):
        meta["type"] = entry["Type"]
    if not _agrees(value, dataset_answer):
        meta.update(_erratum(path, number, fields, dataset_answer, value))
    result = format_answer(value)
    return Problem(
        id=f"svamp-{fields['ID']}",
        question=" ".join(f"{fields['Body']} {fields['Question']}".split()),
        answer=value,
        solution=Solution.from_steps([f"{display} = <<{expr}={result}>>{result}"], value),
        source="svamp",
        tolerance=TOLERANCE,
        meta=meta,
    )


def _fields(path: Path, number: int, entry: Any) -> tuple[dict[str, str], float]:
    expected = "an object with string ID, Body, Question, Equation and a number Answer"
    if not isinstance(entry, dict):
        raise _bad(path, number, f"found a JSON {type(entry).__name__}; expected {expected}")
    for key in (*_TEXT_KEYS, "Answer"):
        if key not in entry:
            raise _bad(path, number, f"missing key {key!r}; expected {expected}")
    for key in _TEXT_KEYS:
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise _bad(path, number, f"{key} is {entry[key]!r}; expected a non-empty string")
    answer = entry["Answer"]
    if isinstance(answer, bool) or not isinstance(answer, int | float) or not math.isfinite(answer):
        raise _bad(path, number, f"Answer is {answer!r}; expected a finite number")
    return {key: entry[key].strip() for key in _TEXT_KEYS}, float(answer)


def _format_equation(path: Path, number: int, equation: str) -> tuple[str, str]:
    """`( 76.0 - 25.0 )` -> (`76 - 25`, `76-25`): the step's text and its annotation."""
    if not _EQUATION_RE.fullmatch(equation):
        raise _bad(
            path, number, f"Equation {equation!r} is not arithmetic; allowed: numbers, + - * / ( )"
        )
    tokens = [_format_token(t) for t in _TOKEN_RE.findall(equation)]
    while len(tokens) > 2 and tokens[0] == "(" and _closes_at(tokens) == len(tokens) - 1:
        tokens = tokens[1:-1]
    display = tokens[0]
    for i in range(1, len(tokens)):
        glue = "" if tokens[i - 1] == "(" or tokens[i] == ")" else " "
        display += glue + tokens[i]
    return display, "".join(tokens)


def _format_token(token: str) -> str:
    return format_answer(Fraction(token)) if token[0].isdigit() else token


def _closes_at(tokens: list[str]) -> int:
    """Index of the `)` matching the `(` at index 0, or -1 when unbalanced."""
    depth = 0
    for i, token in enumerate(tokens):
        depth += {"(": 1, ")": -1}.get(token, 0)
        if depth == 0:
            return i
    return -1


def _agrees(value: Fraction, dataset_answer: float) -> bool:
    """The Answer is the value as written (`2.5`) or the float nearest it (10/3 as
    `3.3333333333333335`): a float's own representation is not a disagreement."""
    return value == Fraction(str(dataset_answer)) or float(value) == dataset_answer


def _erratum(
    path: Path, number: int, fields: dict[str, str], dataset_answer: float, value: Fraction
) -> dict[str, str]:
    known = ERRATA.get(fields["ID"])
    if known is None or known[0] != dataset_answer:
        raise _bad(
            path,
            number,
            f"Answer {dataset_answer!r} disagrees with Equation {fields['Equation']!r} = "
            f"{format_answer(value)}; the Answer must equal the Equation's exact value",
        )
    return {"dataset_answer": format_answer(Fraction(str(dataset_answer))), "erratum": known[1]}
