"""Critique of someone else's working (a student's): where it first goes wrong, and a fix.

The text need not follow the model format: any lines are steps, with or without
calculator annotations or a `####` line. `reveal` serves tutors who must not give the
answer away: `location` says only which step is first wrong and how sure the SORM is,
`step` adds a corrected version of that one step, `full` the whole corrected solution.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any, Literal

from glore.engine.config import EngineConfig
from glore.engine.result import Candidate
from glore.engine.steps import Costs, Models, local_refine
from glore.errors import InvalidInputError
from glore.formats import parse_solution

Reveal = Literal["location", "step", "full"]
REVEALS: tuple[Reveal, ...] = ("location", "step", "full")


@dataclass
class Critique:
    question: str
    steps: list[str]
    step_values: list[float]
    """SORM value of every step prefix: the chance the working can still reach the answer."""
    first_error: int | None
    """Index of the first step below `tau_where`; None when every step clears it."""
    first_error_text: str | None
    confidence: float | None
    """How sure the SORM is that `first_error` is wrong (1 - its value)."""
    orm_confidence: float
    """The ORM's probability that the working's final answer is right."""
    reveal: Reveal
    corrected_step: str | None = None
    corrected_solution: list[str] | None = None
    corrected_answer: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


async def critique(
    models: Models, question: str, solution: str, reveal: str, cfg: EngineConfig
) -> Critique:
    if reveal not in REVEALS:
        raise InvalidInputError(f"reveal must be one of {', '.join(REVEALS)}; got {reveal!r}")
    parsed = parse_solution(solution)
    steps = list(parsed.steps)
    if not steps:
        raise InvalidInputError("the solution has no steps: give at least one non-empty line")
    if len(steps) > cfg.max_solution_steps:
        raise InvalidInputError(
            f"the solution has {len(steps)} steps; at most {cfg.max_solution_steps} allowed"
        )
    sorm, orm = await asyncio.gather(
        models.sorm.score([(question, steps)]), models.orm.score([(question, steps)])
    )
    values = sorm[0]
    error = next((i for i, v in enumerate(values) if v < cfg.tau_where), None)
    result = Critique(
        question,
        steps,
        values,
        error,
        steps[error] if error is not None else None,
        None if error is None else 1.0 - values[error],
        orm[0][-1],
        reveal,
    )
    if error is None or reveal == "location":
        return result
    draft = Candidate.from_solution("working", parsed)
    (fixed,) = await local_refine(models, [(0, question, draft, error)], cfg.max_tokens, Costs(1))
    result.corrected_step = fixed.steps[error] if len(fixed.steps) > error else None
    if reveal == "full":
        result.corrected_solution = fixed.steps
        result.corrected_answer = fixed.answer
    return result


__all__ = ["REVEALS", "Critique", "Reveal", "critique"]
