"""How well scores separate labels: the number the stages, the manifest and the reports share."""

from __future__ import annotations

from collections.abc import Sequence


def auroc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Probability that a random positive outscores a random negative (ties count half);
    None when one class is absent."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    ranked = sorted((s, i) for i, s in enumerate(scores))
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(ranked):
        j = i
        while j + 1 < len(ranked) and ranked[j + 1][0] == ranked[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[ranked[k][1]] = (i + j) / 2 + 1
        i = j + 1
    pos_rank = sum(r for r, y in zip(ranks, labels, strict=True) if y)
    return (pos_rank - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def within_question_ranking(
    questions: Sequence[Sequence[tuple[bool, float]]],
) -> tuple[float | None, int]:
    """How well a score orders candidates *of one question*: over every (right, wrong) pair
    of one question's (right, score) candidates, the share where the right one scores
    higher (ties count half), and the number of pairs. 0.5 is chance; None without pairs."""
    pairs, wins = 0, 0.0
    for cands in questions:
        for g in (s for ok, s in cands if ok):
            for b in (s for ok, s in cands if not ok):
                pairs += 1
                wins += 1.0 if g > b else 0.5 if g == b else 0.0
    return (wins / pairs if pairs else None), pairs
