"""The three decisions, as pure functions on scores: when, where, and which candidate wins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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


@dataclass(frozen=True)
class Choice:
    index: int
    reason: str


def rerank(names: Sequence[str], orm_scores: Sequence[float]) -> Choice:
    """Rerank: the highest ORM score wins; a tie with the draft (index 0) keeps the draft,
    and other ties keep the earlier candidate."""
    if not names or len(names) != len(orm_scores):
        raise ValueError("rerank needs one score per candidate")
    best = max(range(len(names)), key=lambda i: (orm_scores[i], -i))
    if best == 0:
        return Choice(0, f"{names[0]} has the highest ORM score ({orm_scores[0]:.3f})")
    return Choice(
        best,
        f"{names[best]} has the highest ORM score ({orm_scores[best]:.3f} > "
        f"{names[0]} {orm_scores[0]:.3f})",
    )
