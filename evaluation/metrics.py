"""The statistics the reports print: intervals, ranking, calibration, first-error matching."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from glore.labels.metrics import auroc, within_question_ranking

__all__ = [
    "Interval",
    "auroc",
    "bootstrap_mean",
    "bootstrap_paired_delta",
    "expected_calibration_error",
    "first_below",
    "fixes_of_wrong_drafts",
    "localisation",
    "reliability",
    "within_question_ranking",
]


@dataclass(frozen=True)
class Interval:
    """A mean with its 95% percentile-bootstrap interval."""

    mean: float
    low: float
    high: float


def _percentiles(draws: list[float]) -> tuple[float, float]:
    draws.sort()
    lo = draws[int(0.025 * (len(draws) - 1))]
    hi = draws[round(0.975 * (len(draws) - 1))]
    return lo, hi


def bootstrap_mean(values: Sequence[float], resamples: int, seed: int) -> Interval:
    """Mean of `values` with a 95% interval from `resamples` resamples (seeded)."""
    if not values:
        raise ValueError("no values to bootstrap")
    rng, n = random.Random(seed), len(values)
    draws = [sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples)]
    lo, hi = _percentiles(draws)
    return Interval(sum(values) / n, lo, hi)


def bootstrap_paired_delta(
    a: Sequence[float], b: Sequence[float], resamples: int, seed: int
) -> Interval:
    """Mean of a - b over the same questions, resampling questions (not a and b apart)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} vs {len(b)}")
    return bootstrap_mean([x - y for x, y in zip(a, b, strict=True)], resamples, seed)


def reliability(
    probs: Sequence[float], labels: Sequence[bool], bins: int = 10
) -> list[dict[str, float]]:
    """Equal-width bins of predicted probability: count, mean prediction, observed rate."""
    rows = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [i for i, p in enumerate(probs) if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if idx:
            rows.append(
                {
                    "low": lo,
                    "high": hi,
                    "count": len(idx),
                    "mean_prob": sum(probs[i] for i in idx) / len(idx),
                    "observed": sum(labels[i] for i in idx) / len(idx),
                }
            )
    return rows


def expected_calibration_error(
    probs: Sequence[float], labels: Sequence[bool], bins: int = 10
) -> float:
    """Sum over bins of |observed - predicted|, weighted by the bin's share of points."""
    total = len(probs)
    if total == 0:
        return 0.0
    return sum(
        r["count"] / total * abs(r["observed"] - r["mean_prob"])
        for r in reliability(probs, labels, bins)
    )


def first_below(values: Sequence[float], tau: float) -> int | None:
    """Index of the first value below `tau` (the flagged first error), or None."""
    return next((i for i, v in enumerate(values) if v < tau), None)


def localisation(
    predicted: Sequence[int | None], truth: Sequence[int | None]
) -> dict[str, float | int]:
    """Precision: of solutions where a step is flagged, the share whose flagged step is the
    true first error. Recall: of solutions with an error, the share found at the right step.
    `exact` also counts "no error" agreeing with "none flagged"."""
    hits = sum(p is not None and p == t for p, t in zip(predicted, truth, strict=True))
    flagged = sum(p is not None for p in predicted)
    wrong = sum(t is not None for t in truth)
    exact = sum(p == t for p, t in zip(predicted, truth, strict=True))
    return {
        "precision": hits / flagged if flagged else 0.0,
        "recall": hits / wrong if wrong else 0.0,
        "exact": exact / len(truth) if truth else 0.0,
        "flagged": flagged,
        "with_error": wrong,
        "solutions": len(truth),
    }


def fixes_of_wrong_drafts(
    candidates: Sequence[Mapping[str, bool]], draft_right: Sequence[bool]
) -> dict[str, int]:
    """Of the wrong drafts, how many the global and the local candidate each fix, both, and
    either (the oracle's fixes; issue 11's "fixed by either refiner"). `candidates`: per
    question, candidate name -> right."""
    wrong = [c for c, d in zip(candidates, draft_right, strict=True) if not d]
    g = [c.get("global", False) for c in wrong]
    loc = [c.get("local", False) for c in wrong]
    return {
        "wrong_drafts": len(wrong),
        "global_fixes": sum(g),
        "local_fixes": sum(loc),
        "both": sum(a and b for a, b in zip(g, loc, strict=True)),
        "either": sum(a or b for a, b in zip(g, loc, strict=True)),
    }
