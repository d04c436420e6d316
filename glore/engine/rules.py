"""The three decisions, as pure functions on scores: when, where, and which candidate wins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Source = Literal["arithmetic", "sorm"]
"""Which signal flagged a first error: the exact arithmetic check or the SORM."""


def should_refine(orm_score: float, mode: str, tau_when: float) -> bool:
    """When: `always` refines every draft; `gated` only drafts the ORM scores below tau."""
    return mode == "always" or orm_score < tau_when


def first_error(values: Sequence[float], tau_where: float) -> int:
    """Where: the first step whose SORM value is below `tau_where`.

    When no step falls below it, the lowest step is taken (the earliest on a tie): the
    caller asked to refine, so the least trusted step is the best guess.
    """
    if not values:
        raise ValueError("first_error needs at least one step value")
    for i, value in enumerate(values):
        if value < tau_where:
            return i
    return min(range(len(values)), key=lambda i: (values[i], i))


def flagged_error(
    values: Sequence[float], wrong: int | None, tau_where: float
) -> tuple[int, Source] | None:
    """Where, with the exact check beside the SORM: the earlier of the first step below
    `tau_where` and the first step whose arithmetic is `wrong`, with the source that flagged
    it (`arithmetic` on a tie: it is exact). None when neither flags a step."""
    sorm = next((i for i, v in enumerate(values) if v < tau_where), None)
    if wrong is not None and (sorm is None or wrong <= sorm):
        return wrong, "arithmetic"
    return None if sorm is None else (sorm, "sorm")


def checked_pool(arithmetic_ok: Sequence[bool]) -> list[int]:
    """Rerank `checked`: the candidates the ORM chooses among. Those whose arithmetic holds
    when only some do; every candidate when all or none do."""
    passing = [i for i, ok in enumerate(arithmetic_ok) if ok]
    return passing if passing else list(range(len(arithmetic_ok)))


def abstains(orm_score: float, threshold: float) -> bool:
    """Abstention: the chosen answer's ORM score is below the threshold (0 never abstains)."""
    return orm_score < threshold


@dataclass(frozen=True)
class Choice:
    index: int
    reason: str


@dataclass(frozen=True)
class Guard:
    """When a refinement may replace the greedy draft in the rerank. Each field: default,
    then bound. `Guard()` is the paper's plain argmax."""

    margin: float = 0.0
    """It must beat the draft's ORM score by more than this (0.0; [0, 1]): a store's
    calibrated margin keeps the draft where its ORM cannot rank (`rerank_margin`)."""
    floor: float = 0.0
    """And score at least this (0.0; [0, 1]): where the ORM gives every candidate a low
    score, as on questions unlike those it was fitted on, it cannot tell them apart and the
    draft stays (`rerank_floor`, calibrated on validation like the margin)."""

    def blocks(self, draft: float, best: float) -> str | None:
        """Why a candidate scoring `best` may not replace a draft scoring `draft`; None if
        it may."""
        if best <= draft + self.margin:
            return f"does not beat {draft:.3f} by more than the margin {self.margin:.2f}"
        if self.floor > 0 and best < self.floor:  # 0 is no floor, whatever the scale
            return f"is below the floor {self.floor:.2f}"
        return None


ARGMAX = Guard()
"""The paper's rerank: the highest ORM score wins."""


def rerank(names: Sequence[str], orm_scores: Sequence[float], guard: Guard = ARGMAX) -> Choice:
    """Rerank: the highest ORM score wins, but the draft (index 0) is replaced only by a
    candidate that `guard` lets through. Ties keep the earlier candidate."""
    if not names or len(names) != len(orm_scores):
        raise ValueError("rerank needs one score per candidate")
    best = max(range(len(names)), key=lambda i: (orm_scores[i], -i))
    if best == 0:
        return Choice(0, f"{names[0]} has the highest ORM score ({orm_scores[0]:.3f})")
    blocked = guard.blocks(orm_scores[0], orm_scores[best])
    if blocked is not None:
        return Choice(
            0, f"{names[0]} kept: {names[best]}'s ORM score {orm_scores[best]:.3f} {blocked}"
        )
    return Choice(
        best,
        f"{names[best]} has the highest ORM score ({orm_scores[best]:.3f} > "
        f"{names[0]} {orm_scores[0]:.3f})",
    )


def vote(
    names: Sequence[str],
    answers: Sequence[str | None],
    orm_scores: Sequence[float],
    guard: Guard = ARGMAX,
) -> Choice:
    """Answer agreement first (the `glore_vote` strategy, not the paper's rerank): when one
    final answer is shared by at least two candidates and by more than any other answer,
    the draft wins if it holds that answer, else that answer's best ORM score. Without such
    an answer the ORM reranks as `rerank` does."""
    if not names or not len(names) == len(answers) == len(orm_scores):
        raise ValueError("vote needs one answer and one score per candidate")
    counts: dict[str, int] = {}
    for a in answers:
        if a is not None:
            counts[a] = counts.get(a, 0) + 1
    top = sorted(counts.values(), reverse=True)
    if not top or top[0] < 2 or (len(top) > 1 and top[1] == top[0]):
        return rerank(names, orm_scores, guard)
    answer = next(a for a, n in counts.items() if n == top[0])
    holders = [i for i, a in enumerate(answers) if a == answer]
    pick = 0 if 0 in holders else max(holders, key=lambda i: (orm_scores[i], -i))
    return Choice(pick, f"{len(holders)} of {len(names)} candidates answer {answer}")
