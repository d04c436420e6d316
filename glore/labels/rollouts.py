"""K rollouts from step prefixes, batched: many prefixes, n samples each, per generate call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from glore.backends.base import Generator, SamplingParams
from glore.backends.sync import run_sync
from glore.formats import rollout_prompt, split_steps
from glore.labels.records import PrefixRollouts
from glore.labels.rules import rollout_correct, uses_value


@dataclass(frozen=True)
class PrefixJob:
    qid: str
    question: str
    answer: str
    prefix: tuple[str, ...]


def unique_jobs(samples: Sequence[tuple[str, str, str, Sequence[str]]]) -> list[PrefixJob]:
    """Every proper prefix P_1..P_{n-1} of every (qid, question, answer, steps), deduplicated
    in first-seen order (samples of one question often share their first steps)."""
    seen: dict[tuple[str, tuple[str, ...]], PrefixJob] = {}
    for qid, question, answer, steps in samples:
        for i in range(1, len(steps)):
            key = (qid, tuple(steps[:i]))
            if key not in seen:
                seen[key] = PrefixJob(qid, question, answer, key[1])
    return list(seen.values())


def roll_out(
    gen: Generator, jobs: Sequence[PrefixJob], params: SamplingParams
) -> list[PrefixRollouts]:
    """`params.n` rollouts of every job in one generate call, labelled."""
    prompts = [rollout_prompt(j.question, j.prefix).text for j in jobs]
    outs = run_sync(gen.generate(prompts, params))
    rows = []
    for job, completions in zip(jobs, outs, strict=True):
        conts = [split_steps(c.text) for c in completions]
        answer = Fraction(job.answer)
        rows.append(
            PrefixRollouts(
                job.qid,
                job.question,
                job.answer,
                list(job.prefix),
                conts,
                [rollout_correct(job.prefix, c, answer) for c in conts],
                [uses_value(job.prefix, c) for c in conts],
            )
        )
    return rows
