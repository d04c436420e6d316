"""Held-out numbers the stages and the manifest report: accuracy and AUROC."""

from __future__ import annotations

from collections.abc import Sequence

from glore.backends.base import Generator, SamplingParams
from glore.formats import Problem, Solution, parse_solution, student_prompt
from training.async_run import run_sync


def solve_all(
    gen: Generator, problems: Sequence[Problem], params: SamplingParams
) -> list[list[Solution]]:
    """`params.n` parsed student solutions for each problem."""
    prompts = [student_prompt(p.question).text for p in problems]
    outs = run_sync(gen.generate(prompts, params))
    return [[parse_solution(c.text) for c in cs] for cs in outs]


def greedy_accuracy(gen: Generator, problems: Sequence[Problem], max_tokens: int) -> float:
    sols = solve_all(gen, problems, SamplingParams(n=1, temperature=0.0, max_tokens=max_tokens))
    return sum(p.check(s[0]) for p, s in zip(problems, sols, strict=True)) / max(1, len(problems))


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
