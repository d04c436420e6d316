"""Held-out numbers the stages and the manifest report, and batched generation with a
progress bar (one tick per generate call, so a long validation shows its ETA)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from tqdm import tqdm

from glore.backends.base import Generator, SamplingParams
from glore.backends.sync import run_sync
from glore.formats import Problem, Solution, parse_solution, student_prompt


def questions_per_call(gen_batch: int, n: int) -> int:
    """Questions per generate call so that one call holds about `gen_batch` sequences."""
    return max(1, gen_batch // max(1, n))


def solve_all(
    gen: Generator,
    problems: Sequence[Problem],
    params: SamplingParams,
    *,
    per_call: int = 0,
    desc: str | None = None,
) -> list[list[Solution]]:
    """`params.n` parsed student solutions for each problem, in generate calls of
    `per_call` questions (0: one call), with a progress bar named `desc` (None: none).
    Each call after the first gets its own seed, so the result is the same on every run."""
    step = per_call or max(1, len(problems))
    starts = range(0, len(problems), step)
    bar = tqdm(starts, desc=desc, unit="call", disable=desc is None)
    out: list[list[Solution]] = []
    for index, start in enumerate(bar):
        seed = None if params.seed is None else params.seed + index * 7919
        call = replace(params, seed=seed)
        prompts = [student_prompt(p.question).text for p in problems[start : start + step]]
        outs = run_sync(gen.generate(prompts, call))
        out += [[parse_solution(c.text) for c in cs] for cs in outs]
    return out


def greedy_accuracy(
    gen: Generator,
    problems: Sequence[Problem],
    max_tokens: int,
    *,
    per_call: int = 0,
    desc: str | None = None,
) -> float:
    params = SamplingParams(n=1, temperature=0.0, max_tokens=max_tokens)
    sols = solve_all(gen, problems, params, per_call=per_call, desc=desc)
    return sum(p.check(s[0]) for p, s in zip(problems, sols, strict=True)) / max(1, len(problems))
