"""Dataset self-check: does every reference solution reach its problem's answer?"""

from __future__ import annotations

from dataclasses import dataclass

from glore.errors import InvalidInputError
from glore.formats import Problem
from glore.tasks.base import Task

_SHOWN_FAILURES = 5


@dataclass(frozen=True)
class CheckReport:
    """Counts over the problems of `split` (all splits when None).

    `parsed`: reference solutions with an answer on a `####` line. `matched`: those whose
    answer equals the problem's (under its tolerance); `failed` lists the other problems' ids.
    """

    task: str
    split: str | None
    total: int
    parsed: int
    matched: int
    failed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.total == self.parsed == self.matched

    def summary(self) -> str:
        where = f"{self.task}/{self.split or 'all splits'}"
        line = (
            f"{where}: {self.total} problems, {self.parsed} references parsed (####), "
            f"{self.matched} match the answer"
        )
        if self.failed:
            shown = ", ".join(self.failed[:_SHOWN_FAILURES])
            more = (
                f" and {len(self.failed) - _SHOWN_FAILURES} more"
                if len(self.failed) > _SHOWN_FAILURES
                else ""
            )
            line += f"; failing: {shown}{more}"
        return line


def check_dataset(task: Task, split: str | None = None) -> CheckReport:
    """Load `split` of `task` (every split when None) and check each reference solution."""
    if split is not None and split not in task.splits:
        raise InvalidInputError(
            f"{task.name} has no split {split!r}; splits: {', '.join(task.splits)}"
        )
    splits = task.splits if split is None else (split,)
    problems = [p for s in splits for p in task.load(s)]
    parsed = [p for p in problems if _parsed(p)]
    matched = [p for p in parsed if p.solution is not None and p.check(p.solution)]
    matched_ids = {p.id for p in matched}
    failed = tuple(p.id for p in problems if p.id not in matched_ids)
    return CheckReport(task.name, split, len(problems), len(parsed), len(matched), failed)


def _parsed(problem: Problem) -> bool:
    solution = problem.solution
    return (
        solution is not None and solution.answer_source == "marker" and solution.answer is not None
    )
