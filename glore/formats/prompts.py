"""The exact text each of the five models reads, with the character span of every step.

Roles: the student (question -> solution), the ORM and SORM (question + solution, scored
at every step end), the global refiner (question + draft -> new solution) and the local
refiner (question + draft with `[BAD]` before the first wrong step -> a solution that keeps
the steps before it). Training and serving build prompts only through these functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from glore.formats.solution import BAD_MARKER

Role = Literal["student", "orm", "sorm", "global", "local"]
ROLES: tuple[Role, ...] = ("student", "orm", "sorm", "global", "local")


@dataclass(frozen=True)
class Prompt:
    """Text given to a model; `step_spans[i]` is the (start, end) characters of step i in it.

    For generation roles the model continues `text`; for the scorers, `text` ends with the
    last step and each step is scored at its end.
    """

    text: str
    step_spans: tuple[tuple[int, int], ...] = ()


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[tuple[int, int]] = []
        self.size = 0

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    def add_step(self, step: str) -> None:
        self.spans.append((self.size, self.size + len(step)))
        self.add(step)

    def build(self) -> Prompt:
        return Prompt("".join(self.parts), tuple(self.spans))


def _question(builder: _Builder, question: str) -> None:
    builder.add(f"Question: {' '.join(question.split())}\n")


def student_prompt(question: str) -> Prompt:
    """The student's input; it writes the solution after it."""
    b = _Builder()
    _question(b, question)
    b.add("Answer:\n")
    return b.build()


def rollout_prompt(question: str, prefix: Sequence[str]) -> Prompt:
    """The student prompt with a step prefix already written, one step a line: the student
    continues from it (the SORM's rollouts)."""
    b = _Builder()
    _question(b, question)
    b.add("Answer:\n")
    for step in prefix:
        b.add_step(step)
        b.add("\n")
    return b.build()


def scorer_prompt(question: str, steps: Sequence[str]) -> Prompt:
    """ORM and SORM input: the student prompt followed by the steps, one per line."""
    b = _Builder()
    _question(b, question)
    b.add("Answer:\n")
    for i, step in enumerate(steps):
        if i:
            b.add("\n")
        b.add_step(step)
    return b.build()


def _draft(b: _Builder, steps: Sequence[str], bad_index: int | None) -> None:
    b.add("Draft:\n")
    for i, step in enumerate(steps):
        if i == bad_index:
            b.add(f"{BAD_MARKER} ")
        b.add_step(step)
        b.add("\n")


def global_prompt(question: str, draft_steps: Sequence[str]) -> Prompt:
    """Global refiner input: the whole draft; it writes a new solution from scratch."""
    b = _Builder()
    _question(b, question)
    _draft(b, draft_steps, None)
    b.add("Revised answer:\n")
    return b.build()


def local_prompt(question: str, draft_steps: Sequence[str], first_error: int) -> Prompt:
    """Local refiner input: `[BAD]` before step `first_error`, then the steps before it
    already written out, so the refiner keeps them by construction and writes the rest."""
    if not 0 <= first_error < len(draft_steps):
        raise ValueError(f"first_error must be in [0, {len(draft_steps)}), got {first_error}")
    b = _Builder()
    _question(b, question)
    _draft(b, draft_steps, first_error)
    b.add("Revised answer:\n")
    for step in draft_steps[:first_error]:
        b.add(step)
        b.add("\n")
    return b.build()
