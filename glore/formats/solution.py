"""Problems and step-by-step solutions: one step per line, the last line `#### <answer>`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from glore.formats.answers import answers_equal, format_answer, numbers_in, parse_number

ANSWER_MARKER = "####"
BAD_MARKER = "[BAD]"

AnswerSource = Literal["marker", "last_number", "none"]
"""Where a parsed answer came from: the `####` line, the last number of the last step
(model output that forgot the marker), or nowhere."""


@dataclass(frozen=True)
class Solution:
    """A solution as a tuple of steps. Each step is one stripped, non-empty line.

    When the text had an answer line, it is the last step (`#### 72`), so the final step's
    score sees the final answer. `dropped_text` says that text after the answer was cut.
    """

    steps: tuple[str, ...]
    answer: Fraction | None
    answer_source: AnswerSource = "marker"
    dropped_text: bool = False

    @classmethod
    def from_steps(cls, reasoning: Sequence[str], answer: Fraction) -> Solution:
        """Build a well-formed solution from reasoning lines and an exact answer."""
        steps = tuple(_clean_line(s) for s in reasoning)
        if any(not s or "\n" in s for s in steps):
            raise ValueError("steps must be non-empty single lines")
        return cls((*steps, f"{ANSWER_MARKER} {format_answer(answer)}"), answer, "marker")

    @property
    def text(self) -> str:
        return "\n".join(self.steps)

    @property
    def reasoning(self) -> tuple[str, ...]:
        """The steps without the answer line."""
        if self.answer_source == "marker":
            return self.steps[:-1]
        return self.steps

    def is_correct(self, expected: Fraction, tolerance: Fraction | None = None) -> bool:
        return answers_equal(self.answer, expected, tolerance)


def _clean_line(line: str) -> str:
    return " ".join(line.replace(BAD_MARKER, " ").split())


_MARKER_IN_LINE = re.compile(rf"\s*{re.escape(ANSWER_MARKER)}")


def split_steps(text: str) -> list[str]:
    """Lines of `text` as steps: whitespace collapsed, blank lines and `[BAD]` markers removed.

    A `####` that follows other text on a line starts a line of its own.
    """
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        idx = raw.find(ANSWER_MARKER)
        parts = [raw] if idx <= 0 else [raw[:idx], raw[idx:]]
        lines.extend(c for c in (_clean_line(p) for p in parts) if c)
    return lines


def parse_solution(text: str) -> Solution:
    """Parse model or human output into a `Solution`; never raises.

    Rules, in order: the first `####` line ends the solution (later text is dropped and
    `dropped_text` is set); its first number is the answer. Without a `####` line the last
    number of the last step serves, and `answer_source` says so.
    """
    lines = split_steps(text)
    for i, line in enumerate(lines):
        if _MARKER_IN_LINE.match(line):
            answer = parse_number(line[len(ANSWER_MARKER) :])
            source: AnswerSource = "marker" if answer is not None else "none"
            return Solution(tuple(lines[: i + 1]), answer, source, i + 1 < len(lines))
    if not lines:
        return Solution((), None, "none")
    numbers = numbers_in(lines[-1])
    if numbers:
        return Solution(tuple(lines), numbers[-1], "last_number")
    return Solution(tuple(lines), None, "none")


@dataclass(frozen=True)
class Problem:
    """A question with its exact answer. `tolerance` (absolute) is for a dataset whose
    answers are rounded; none of the shipped ones needs it. `meta` carries task facts such
    as the true value after every step."""

    id: str
    question: str
    answer: Fraction
    solution: Solution | None = None
    source: str = ""
    tolerance: Fraction | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def check(self, solution: Solution) -> bool:
        """True when `solution` reaches this problem's answer."""
        return solution.is_correct(self.answer, self.tolerance)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.question,
            "answer": format_answer(self.answer),
            "solution": self.solution.text if self.solution is not None else None,
            "source": self.source,
            "tolerance": format_answer(self.tolerance) if self.tolerance is not None else None,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Problem:
        solution = data.get("solution")
        tolerance = data.get("tolerance")
        return cls(
            id=str(data["id"]),
            question=str(data["question"]),
            answer=Fraction(str(data["answer"])),
            solution=parse_solution(solution) if solution is not None else None,
            source=str(data.get("source", "")),
            tolerance=Fraction(str(tolerance)) if tolerance is not None else None,
            meta=dict(data.get("meta") or {}),
        )
