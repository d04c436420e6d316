"""Critique of someone else's working (a student's): where it first goes wrong, and a fix.

The text need not follow the model format: any lines are steps, with or without calculator
annotations or a `####` line; the reward models read it with annotations added where it
states plain equations (`glore.formats.equations.annotate`). Two signals judge each step:
the SORM's value and an exact check of its arithmetic (`glore.formats.checks`); the first
error is the first step either flags, and `source` says which. `reveal` serves tutors who
must not give the answer away: `location` says only which step is first wrong and how sure
the SORM is, `step` adds a corrected version of that one step, `full` the whole corrected
solution. An arithmetic slip is corrected exactly where it can be (its result replaced by
the correct value, the student continuing from there), else by the local refiner; either
correction is itself checked before it is offered as verified.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any, Literal

from glore.engine.config import EngineConfig
from glore.engine.refine import run_local
from glore.engine.result import Candidate
from glore.engine.rules import Source, flagged_error
from glore.engine.steps import Costs, Models, repair, repairable
from glore.errors import InvalidInputError
from glore.formats import StepCheck, annotate, check_steps, first_wrong, parse_solution

Reveal = Literal["location", "step", "full"]
REVEALS: tuple[Reveal, ...] = ("location", "step", "full")


@dataclass
class Critique:
    question: str
    steps: list[str]
    step_values: list[float]
    """SORM value of every step prefix: the chance the working can still reach the answer."""
    checks: list[StepCheck]
    """The exact arithmetic check of every step: `ok`, `wrong` (with the correct value) or
    `unchecked`, and warnings such as an unsupported quantity."""
    first_error: int | None
    """The first step whose arithmetic is wrong or whose SORM value is below `tau_where`;
    None when neither flags one."""
    source: Source | None
    """Which signal flagged `first_error`: `arithmetic` (exact) or `sorm`."""
    first_error_text: str | None
    confidence: float | None
    """How sure the SORM is that `first_error` is wrong (1 - its value)."""
    orm_confidence: float
    """The ORM's probability that the working's final answer is right."""
    reveal: Reveal
    corrected_step: str | None = None
    corrected_solution: list[str] | None = None
    corrected_answer: str | None = None
    correction_check: StepCheck | None = None
    """The exact check of `corrected_step`."""
    correction_verified: bool | None = None
    """For an arithmetic slip: whether the corrected step's arithmetic checks `ok`. When
    False, the correction is offered unverified (`correction_note` says why)."""
    correction_note: str | None = None
    correction_by: Literal["repair", "local_refiner"] | None = None
    """Who wrote the correction: `repair` (an arithmetic slip: its result replaced by the
    correct value, the rest continued by the student) or the `local_refiner`."""

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
    # The reward models read the working in their own format (calculator annotations
    # added where it states plain equations): a likelihood verifier finds unannotated
    # steps unlikely, right or wrong, and would flag the first one.
    read = [annotate(step) for step in steps]
    sorm, orm = await asyncio.gather(
        models.sorm.score([(question, read)]), models.orm.score([(question, read)])
    )
    values, checks = sorm[0], check_steps(question, steps)
    flagged = flagged_error(values, first_wrong(checks), cfg.tau_where)
    error, source = flagged if flagged is not None else (None, None)
    result = Critique(
        question,
        steps,
        values,
        checks,
        error,
        source,
        steps[error] if error is not None else None,
        None if error is None else 1.0 - values[error],
        orm[0][-1],
        reveal,
    )
    if error is None or reveal == "location":
        return result
    draft = Candidate.from_solution("working", parsed)
    draft.checks = checks
    found = repairable(draft) if source == "arithmetic" else None
    if found is not None and found[0] == error:  # exact: the correct value, then the student
        (fixed,) = await repair(models, [(0, question, draft, *found)], cfg.max_tokens, Costs(1))
        result.correction_by = "repair"
    else:
        (fixed,) = await run_local(models, [(0, question, draft, error)], cfg, Costs(1))
        result.correction_by = "local_refiner"
    result.corrected_step = fixed.steps[error] if len(fixed.steps) > error else None
    _verify(result, question, error)
    if reveal == "full":
        result.corrected_solution = fixed.steps
        result.corrected_answer = fixed.answer
    return result


def _verify(result: Critique, question: str, error: int) -> None:
    """Check the corrected step against the steps before it; an arithmetic slip's
    correction is verified only when its own arithmetic checks `ok`."""
    if result.corrected_step is None:
        if result.source == "arithmetic":
            result.correction_verified = False
            result.correction_note = "the refiner gave no corrected step; nothing to verify"
        return
    kept = [*result.steps[:error], result.corrected_step]
    check = check_steps(question, kept)[-1]
    result.correction_check = check
    if result.source != "arithmetic":
        return
    result.correction_verified = check.check == "ok"
    if check.check == "wrong":
        result.correction_note = (
            f"the corrected step could not be verified: {check.equation} should be "
            f"{check.expected}; step {error + 1} should compute "
            f"{result.checks[error].expected}"
        )
    elif check.check == "unchecked":
        result.correction_note = (
            f"the corrected step could not be verified ({check.reason}); step {error + 1} "
            f"should compute {result.checks[error].expected}"
        )


__all__ = ["REVEALS", "Critique", "Reveal", "critique"]
