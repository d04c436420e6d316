"""Stage `sorm-label`: K rollouts from every step prefix; a prefix is positive if some
rollout reaches the answer while using the prefix's result (the consistency check).

Then the paper's post-processing (propagation, balancing per step position), a label-noise
estimate against a larger K, and a side-by-side timing of batched against per-prefix calls.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from glore.backends.base import SamplingParams
from glore.labels.records import PrefixRollouts, SampleRecord, StepLabels, to_json
from glore.labels.rollouts import PrefixJob, roll_out, unique_jobs
from glore.labels.rules import (
    balance,
    group_prefixes,
    label_summary,
    noise_estimate,
    sorm_labels,
    to_step_labels,
)
from training.chunks import Work, run_chunks_split
from training.context import Context
from training.rundir import write_jsonl
from training.stages.sample import load_samples

NAME = "sorm-label"


def chosen_samples(ctx: Context) -> list[SampleRecord]:
    """Samples of the first `sorm_label.questions` sampled questions."""
    samples = load_samples(ctx)
    qids = list(dict.fromkeys(s.qid for s in samples))[: ctx.recipe.sorm_label.questions]
    keep = set(qids)
    return [s for s in samples if s.qid in keep]


def _params(ctx: Context, k: int, seed: int) -> SamplingParams:
    s = ctx.recipe.sample
    return SamplingParams(n=k, temperature=s.temperature, max_tokens=s.max_tokens, seed=seed)


def _work(ctx: Context, k: int, seed0: int) -> Work[PrefixJob]:
    """A chunk's rollouts, on a student of this process's own (built here)."""
    gen = ctx.student_generator()

    def work(chunk: Sequence[PrefixJob], index: int) -> list[dict[str, Any]]:
        return [to_json(r) for r in roll_out(gen, chunk, _params(ctx, k, seed0 + index))]

    return work


def _rollouts(
    ctx: Context, jobs: list[PrefixJob], k: int, folder: str, seed0: int
) -> list[PrefixRollouts]:
    return rollouts_in(ctx, jobs, k, ctx.run.stage(NAME) / folder, seed0)


def rollouts_in(
    ctx: Context, jobs: list[PrefixJob], k: int, folder: Path, seed0: int
) -> list[PrefixRollouts]:
    """K rollouts of each job's prefix, in resumable chunks under `folder`."""
    rows = run_chunks_split(
        folder,
        jobs,
        ctx.recipe.sorm_label.chunk,
        partial(_work, ctx, k, seed0),
        f"rollouts K={k}",
        **ctx.split(),
    )
    return [PrefixRollouts(**r) for r in rows]


def _bench(ctx: Context, jobs: list[PrefixJob]) -> dict[str, Any]:
    """The same prefixes rolled out in one batched call, then one call per prefix."""
    if not jobs:
        return {}
    gen, k = ctx.student_generator(), ctx.recipe.sorm_label.k
    t0 = time.perf_counter()
    roll_out(gen, jobs, _params(ctx, k, 7))
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for job in jobs:
        roll_out(gen, [job], _params(ctx, k, 7))
    single = time.perf_counter() - t0
    n = len(jobs) * k
    return {
        "prefixes": len(jobs),
        "rollouts": n,
        "batched_rollouts_per_s": round(n / batched, 1),
        "per_prefix_rollouts_per_s": round(n / single, 1),
        "ratio": round(single / batched, 2),
    }


def _labels(
    ctx: Context, samples: list[SampleRecord], rows: list[PrefixRollouts]
) -> list[StepLabels]:
    groups = group_prefixes(rows)
    labelled = [to_step_labels(s, sorm_labels(s, groups.get(s.qid, {}))) for s in samples]
    if ctx.recipe.sorm_label.balance:
        return balance(labelled, random.Random(ctx.recipe.seed))
    return [replace(x, raw=[int(v) for v in x.labels if v is not None]) for x in labelled]


def run(ctx: Context) -> dict[str, Any]:
    started = time.time()
    spec = ctx.recipe.sorm_label
    samples = chosen_samples(ctx)
    jobs = unique_jobs([(s.qid, s.question, s.answer, s.steps) for s in samples])
    occurrences = sum(max(0, len(s.steps) - 1) for s in samples)
    t0 = time.time()
    rows = _rollouts(ctx, jobs, spec.k, "rollouts", ctx.recipe.seed + 10_000)
    rollout_seconds = time.time() - t0
    labels = _labels(ctx, samples, rows)
    write_jsonl(ctx.run.stage(NAME) / "sorm_labels.jsonl", (to_json(x) for x in labels))
    rng = random.Random(ctx.recipe.seed)
    noise_jobs = rng.sample(jobs, min(spec.noise_prefixes, len(jobs)))
    large = _rollouts(ctx, noise_jobs, spec.noise_k, "noise", ctx.recipe.seed + 20_000)
    small = [r for r in rows if (r.qid, tuple(r.prefix)) in {(j.qid, j.prefix) for j in noise_jobs}]
    summary = {
        "samples": len(samples),
        "prefix_occurrences": occurrences,
        "unique_prefixes": len(jobs),
        "rollouts": len(jobs) * spec.k,
        "rollouts_per_second": round(len(jobs) * spec.k / max(1e-9, rollout_seconds), 1),
        "positive_prefixes": sum(r.positive for r in rows),
        "rejected_by_consistency": sum(any(c for c in r.correct) and not r.positive for r in rows),
        "labels": label_summary(labels),
        "noise": {"k": spec.k, "large_k": spec.noise_k, **noise_estimate(small, large)},
        "batching": _bench(ctx, jobs[: spec.bench_prefixes]),
    }
    return ctx.run.finish(NAME, summary, started)
