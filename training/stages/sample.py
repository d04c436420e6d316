"""Stage `sample`: S solutions per training question at temperature T, labelled by their
final answers (the ORM's data, and the samples whose prefixes the SORM stage rolls out)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from glore.backends.base import SamplingParams
from glore.formats import Problem, format_answer
from glore.labels.records import SampleRecord, to_json
from training.chunks import Work, run_chunks_split
from training.context import Context
from training.evaluate import solve_all

NAME = "sample"


def _work(ctx: Context) -> Work[Problem]:
    """A chunk's samples, on a student of this process's own (built here)."""
    spec = ctx.recipe.sample
    gen = ctx.student_generator()

    def work(chunk: Sequence[Problem], index: int) -> list[dict[str, Any]]:
        params = SamplingParams(
            n=spec.samples,
            temperature=spec.temperature,
            max_tokens=spec.max_tokens,
            seed=ctx.recipe.seed + index,
        )
        rows = []
        for p, sols in zip(chunk, solve_all(gen, chunk, params), strict=True):
            for i, s in enumerate(sols):
                rows.append(
                    to_json(
                        SampleRecord(
                            p.id, p.question, format_answer(p.answer), i, list(s.steps), p.check(s)
                        )
                    )
                )
        return rows

    return work


def run(ctx: Context) -> dict[str, Any]:
    started = time.time()
    spec = ctx.recipe.sample
    problems = ctx.train_problems(ctx.recipe.sample_start, spec.questions)
    folder = ctx.run.stage(NAME) / "chunks"
    make_work = partial(_work, ctx)
    rows = run_chunks_split(
        folder,
        problems,
        spec.chunk,
        make_work,
        "sampling",
        **ctx.split(),
    )
    correct = [r["correct"] for r in rows]
    by_q: dict[str, list[bool]] = {}
    for r in rows:
        by_q.setdefault(r["qid"], []).append(r["correct"])
    summary = {
        "questions": len(problems),
        "samples": len(rows),
        "sample_accuracy": round(sum(correct) / max(1, len(rows)), 4),
        "questions_mixed": sum(0 < sum(v) < len(v) for v in by_q.values()),
        "questions_all_wrong": sum(not any(v) for v in by_q.values()),
        "questions_all_right": sum(all(v) for v in by_q.values()),
        "samples_per_second": round(len(rows) / max(1e-9, time.time() - started), 2),
    }
    return ctx.run.finish(NAME, summary, started)


def load_samples(ctx: Context) -> list[SampleRecord]:
    from training.rundir import read_jsonl

    folder = ctx.run.stage(NAME) / "chunks"
    return [
        SampleRecord(**row) for path in sorted(folder.glob("*.jsonl")) for row in read_jsonl(path)
    ]
