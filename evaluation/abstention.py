"""Abstention: how often the engine would say "unsure" at each threshold, and how right it is
on what it still answers (coverage against accuracy), and the threshold chosen on validation.

A question is answered when the ORM scores its chosen answer at least the threshold
(`glore.engine.rules.abstains`). The chosen threshold is the lowest of the grid at which the
answered questions are at least `target` right: the least abstention that reaches the
accuracy asked for. When no threshold reaches it, 0 (never abstain), and the report says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from glore.engine.rules import abstains

GRID: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(20))
"""Thresholds tried: 0, 0.05, ..., 0.95."""
TARGET = 0.75
"""Accuracy asked of the answered questions (0.75; (0, 1])."""


def curve(
    answers: Sequence[tuple[bool, float]], grid: Sequence[float] = GRID
) -> list[dict[str, Any]]:
    """Per threshold: the share of questions answered and the accuracy of those, from
    (right, ORM score of the chosen answer) per question."""
    out = []
    for t in grid:
        kept = [right for right, score in answers if not abstains(score, t)]
        out.append(
            {
                "threshold": t,
                "coverage": round(len(kept) / len(answers), 4) if answers else None,
                "accuracy": round(sum(kept) / len(kept), 4) if kept else None,
            }
        )
    return out


def choose_threshold(
    answers: Sequence[tuple[bool, float]], target: float = TARGET, grid: Sequence[float] = GRID
) -> dict[str, Any]:
    """The threshold by the module's rule, with the whole curve."""
    points = curve(answers, grid)
    reached = [p for p in points if p["accuracy"] is not None and p["accuracy"] >= target]
    chosen = reached[0] if reached else points[0]
    return {
        "abstain_below": chosen["threshold"] if reached else 0.0,
        "target_accuracy": target,
        "reached": bool(reached),
        "coverage": chosen["coverage"],
        "accuracy": chosen["accuracy"],
        "curve": points,
    }


def at(answers: Sequence[tuple[bool, float]], threshold: float) -> dict[str, Any]:
    """Coverage and accuracy at one threshold (the store's)."""
    (point,) = curve(answers, (threshold,))
    return point
