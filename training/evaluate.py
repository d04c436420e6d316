"""Held-out numbers the stages and the manifest report: the student's accuracy."""

from __future__ import annotations

from collections.abc import Sequence

from glore.backends.base import Generator, SamplingParams
from glore.backends.sync import run_sync
from glore.formats import Problem, Solution, parse_solution, student_prompt


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
