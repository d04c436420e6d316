"""Stage `refine-data`: refinement pairs mined from the samples and the rollouts.

Global: (question, an incorrect sample) -> a correct sample of the same question.
With `refine_data.global_drafts: greedy`, the global drafts are instead the student's greedy
solutions of the sampled questions that have a correct sample (generated here, in
resumable chunks under `greedy/`), where they are incorrect; with `both`, those pairs
follow the samples' pairs.
Local: where P_i is positive and P_{i+1} is not, an incorrect draft containing P_{i+1},
`[BAD]` before step i+1 -> a correct rollout from P_i (see `training.refine_pairs`).
With `refine_data.local_drafts: greedy` (or `both`), the incorrect greedy drafts (the ones
`global_drafts` uses) give local pairs too: their step prefixes are rolled out here
(`sorm_label.k` each, resumable chunks under `greedy-rollouts/`) and the same rule applies.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from glore.backends.base import SamplingParams
from glore.formats import Problem, format_answer
from glore.labels.records import PrefixRollouts, RefinePair, SampleRecord, to_json
from glore.labels.rollouts import unique_jobs
from glore.labels.rules import index_prefixes
from training.chunks import Work, run_chunks_split
from training.context import Context
from training.evaluate import solve_all
from training.refine_pairs import (
    global_pairs,
    greedy_local_pairs,
    greedy_pairs,
    local_pairs,
    pair_summary,
)
from training.rundir import read_jsonl, write_jsonl
from training.stages.sample import load_samples
from training.stages.sorm_label import chosen_samples, rollouts_in

NAME = "refine-data"


def _greedy_work(ctx: Context) -> Work[Problem]:
    """A chunk's greedy drafts, on a student of this process's own (built here)."""
    gen, budget = ctx.student_generator(), ctx.recipe.sample.max_tokens

    def work(chunk: Sequence[Problem], index: int) -> list[dict[str, Any]]:
        params = SamplingParams(n=1, temperature=0.0, max_tokens=budget)
        return [
            to_json(
                SampleRecord(
                    p.id, p.question, format_answer(p.answer), 0, list(s.steps), p.check(s)
                )
            )
            for p, (s,) in zip(chunk, solve_all(gen, chunk, params), strict=True)
        ]

    return work


def greedy_drafts(ctx: Context, samples: Sequence[SampleRecord]) -> list[SampleRecord]:
    """The student's greedy draft of each sampled question with a correct sample."""
    wanted = {s.qid for s in samples if s.correct}
    spec = ctx.recipe.sample
    problems = [
        p for p in ctx.train_problems(ctx.recipe.sample_start, spec.questions) if p.id in wanted
    ]
    folder = ctx.run.stage(NAME) / "greedy"
    make_work = partial(_greedy_work, ctx)
    rows = run_chunks_split(
        folder, problems, spec.chunk * spec.samples, make_work, "greedy drafts", **ctx.split()
    )
    return [SampleRecord(**row) for row in rows]


def _greedy_local(
    ctx: Context,
    drafts: Sequence[SampleRecord],
    samples: Sequence[SampleRecord],
    cap: int,
    rng: random.Random,
) -> list[RefinePair]:
    """Local pairs of the incorrect greedy drafts, their prefixes rolled out here."""
    wrong = [d for d in drafts if not d.correct]
    jobs = unique_jobs([(d.qid, d.question, d.answer, d.steps) for d in wrong])
    folder = ctx.run.stage(NAME) / "greedy-rollouts"
    rows = rollouts_in(ctx, jobs, ctx.recipe.sorm_label.k, folder, ctx.recipe.seed + 30_000)
    return greedy_local_pairs(wrong, samples, index_prefixes(rows), cap, rng)


def run(ctx: Context) -> dict[str, Any]:
    started = time.time()
    spec = ctx.recipe.refine_data
    cap, rng = spec.cap_per_question, random.Random(ctx.recipe.seed)
    folder = ctx.run.stage("sorm-label") / "rollouts"
    rows = [PrefixRollouts(**r) for p in sorted(folder.glob("*.jsonl")) for r in read_jsonl(p)]
    samples = load_samples(ctx)
    summary: dict[str, Any] = {}
    glob = global_pairs(samples, cap, rng) if spec.global_drafts != "greedy" else []
    greedy = spec.global_drafts != "samples" or spec.local_drafts != "samples"
    drafts = greedy_drafts(ctx, samples) if greedy else []
    if drafts:
        wrong = sum(not d.correct for d in drafts)
        summary["greedy_drafts"] = {"questions": len(drafts), "incorrect": wrong}
    if spec.global_drafts != "samples":
        glob += greedy_pairs(drafts, samples, cap, rng)
    local: list[RefinePair] = []
    if spec.local_drafts != "greedy":
        local = local_pairs(chosen_samples(ctx), index_prefixes(rows), cap, rng)
    if spec.local_drafts != "samples":
        local += _greedy_local(ctx, drafts, samples, cap, rng)
    out = ctx.run.stage(NAME)
    write_jsonl(out / "global.jsonl", (to_json(p) for p in glob))
    write_jsonl(out / "local.jsonl", (to_json(p) for p in local))
    summary |= {"global": pair_summary(glob), "local": pair_summary(local)}
    return ctx.run.finish(NAME, summary, started)
