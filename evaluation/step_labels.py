"""Ground truth for the reward report: held-out student samples with a label per step.

Two sources. Rollouts (any task): step prefix P_i of a sample is good when one of `k_eval`
student continuations from it reaches the answer and uses the value P_i computed (the
SORM's training rule, with a larger K). Exact (arith only, where the generator knows the
true value after every step): a step is right when its calculator annotations hold and its
result is a true intermediate value of the problem; a prefix is good while all its steps
are. Either way the last step's label is the sample's own correctness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from tqdm import tqdm

from glore.backends.base import Generator, SamplingParams
from glore.backends.sync import run_sync
from glore.formats import (
    Problem,
    check_annotation,
    find_annotations,
    format_answer,
    parse_solution,
    step_value,
    student_prompt,
)
from glore.labels.rollouts import PrefixJob, roll_out, unique_jobs

CHUNK = 16
"""Prefixes per rollout call: one progress tick each."""


@dataclass
class LabelledSample:
    qid: str
    question: str
    steps: list[str]
    correct: bool
    rollout: list[bool]
    """Per step: the prefix ending there is good by `k_eval` rollouts (last: `correct`)."""
    exact: list[bool] | None
    """Per step: the prefix ending there is good by the task's true values (arith only)."""


def exact_labels(problem: Problem, steps: Sequence[str], correct: bool) -> list[bool] | None:
    """Prefix labels from the problem's true step values; None if the task has none."""
    values = problem.meta.get("values")
    if not values or not steps:
        return None
    truth = {Fraction(v) for v in values}
    labels, good = [], True
    for step in steps[:-1]:
        annotations = find_annotations(step)
        sound = all(check_annotation(a) == "ok" for a in annotations)
        good = good and sound and step_value(step) in truth
        labels.append(good)
    return [*labels, correct]


def sample(
    student: Generator, problems: Sequence[Problem], n: int, max_tokens: int, seed: int
) -> list[tuple[Problem, list[str], bool]]:
    """`n` temperature-1 student samples per problem: (problem, steps, correct)."""
    params = SamplingParams(n=n, temperature=1.0, max_tokens=max_tokens, seed=seed)
    outs = run_sync(student.generate([student_prompt(p.question).text for p in problems], params))
    rows = []
    for problem, completions in zip(problems, outs, strict=True):
        for c in completions:
            solution = parse_solution(c.text)
            if solution.steps:
                rows.append((problem, list(solution.steps), problem.check(solution)))
    return rows


def rollout_positive(
    student: Generator, jobs: Sequence[PrefixJob], k: int, max_tokens: int, seed: int
) -> dict[tuple[str, tuple[str, ...]], bool]:
    """(qid, prefix) -> good, from `k` rollouts each, `CHUNK` prefixes per call."""
    out: dict[tuple[str, tuple[str, ...]], bool] = {}
    for start in tqdm(range(0, len(jobs), CHUNK), desc="rollouts", unit="chunk"):
        chunk = jobs[start : start + CHUNK]
        params = SamplingParams(n=k, temperature=1.0, max_tokens=max_tokens, seed=seed + start)
        for row in roll_out(student, chunk, params):
            out[(row.qid, tuple(row.prefix))] = row.positive
    return out


def label_samples(
    student: Generator,
    problems: Sequence[Problem],
    *,
    samples: int,
    k: int,
    max_tokens: int,
    seed: int,
) -> list[LabelledSample]:
    drawn = sample(student, problems, samples, max_tokens, seed)
    keyed = [(p.id, p.question, format_answer(p.answer), steps) for p, steps, _ in drawn]
    good = rollout_positive(student, unique_jobs(keyed), k, max_tokens, seed + 1)
    labelled = []
    for problem, steps, correct in drawn:
        rollout = [good[(problem.id, tuple(steps[:i]))] for i in range(1, len(steps))]
        labelled.append(
            LabelledSample(
                problem.id,
                problem.question,
                steps,
                correct,
                [*rollout, correct],
                exact_labels(problem, steps, correct),
            )
        )
    return labelled


__all__ = ["LabelledSample", "exact_labels", "label_samples"]
