"""Typed results: every candidate with its evidence, the winner and why, costs per stage."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from glore.formats import Solution, StepCheck, format_answer


@dataclass
class Candidate:
    """One solution the pipeline considered (draft, global, local, a sample...)."""

    name: str
    text: str
    steps: list[str]
    answer: str | None
    """The parsed final answer, as `format_answer` writes it (None if none parsed)."""
    orm_score: float | None = None
    """The ORM's probability that the final answer is right (its value at the last step)."""
    sorm_values: list[float] | None = None
    """The SORM's value of every step prefix."""
    orm_values: list[float] | None = None
    """The ORM's value at every step (the critic of the `local_orm` strategy)."""
    first_error: int | None = None
    """The step the local refiner restarts from (None before the SORM scores)."""
    first_error_flagged: bool | None = None
    """Whether a signal flagged `first_error`: a SORM value below `tau_where` (or, with
    `where: checked`, wrong arithmetic). False when none did and `first_error` is only the
    least trusted step, where an `always` refinement restarts all the same."""
    checks: list[StepCheck] | None = None
    """The exact arithmetic check of every step (`glore.formats.checks`)."""
    tokens: int = 0

    @property
    def arithmetic_ok(self) -> bool:
        """No step's arithmetic is wrong (unchecked steps count as not wrong)."""
        return not any(c.check == "wrong" for c in self.checks or [])

    @classmethod
    def from_solution(cls, name: str, solution: Solution, tokens: int = 0) -> Candidate:
        answer = None if solution.answer is None else format_answer(solution.answer)
        return cls(name, solution.text, list(solution.steps), answer, tokens=tokens)


@dataclass
class StageCost:
    seconds: float = 0.0
    tokens: int = 0


@dataclass
class SolveResult:
    question: str
    strategy: str
    answer: str | None
    winner: str
    reason: str
    candidates: list[Candidate]
    refined: bool
    degraded: bool = False
    degraded_reason: str | None = None
    abstain: bool = False
    """The ORM scores the chosen answer below the abstention threshold: unsure."""
    abstain_reason: str | None = None
    stages: dict[str, StageCost] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return sum(s.tokens for s in self.stages.values())

    def find(self, name: str) -> Candidate | None:
        """The candidate called `name`, None where this solve made none (a draft-only run)."""
        return next((c for c in self.candidates if c.name == name), None)

    def candidate(self, name: str) -> Candidate:
        found = self.find(name)
        if found is None:
            raise KeyError(
                f"no candidate {name!r}; this result has {[c.name for c in self.candidates]}"
            )
        return found

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
