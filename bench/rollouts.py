"""`glore bench engine`'s rollouts part: the SORM stage's K rollouts per step prefix, in
the stage's chunks, through the generator's continuous batching (one chunk at a time, and
several at once as the stage runs them), against the fixed batches it had before, on the
same prefixes in one run.

The baseline is the generator as it was: rows sorted by prompt length, cut into batches of
`max_batch_size`, each prefilled row by row (a prompt once per sample) and decoded until
its slowest row ends (`glore.backends.embedded.decode`). Both go through the stage's own
`roll_out`, so labelling costs the same on both sides.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from glore.backends.base import Completion, SamplingParams
from glore.backends.embedded.decode import decode
from glore.backends.embedded.generator import EmbeddedGenerator
from glore.backends.embedded.lane import LANE
from glore.labels.records import PrefixRollouts, to_json
from glore.labels.rollouts import PrefixJob, roll_out, unique_jobs
from glore.tasks.arith import ArithTask


class FixedBatches:
    """A `Generator` that decodes `gen`'s model in fixed, sorted batches (the baseline)."""

    def __init__(self, gen: EmbeddedGenerator) -> None:
        self.gen = gen

    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        # On the compute lane, as the scheduler it is compared with decodes there.
        return await LANE.acall(lambda: self.generate_sync(prompts, params))

    def generate_sync(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        expanded = [p for p in prompts for _ in range(params.n)]
        order = sorted(range(len(expanded)), key=lambda j: (len(expanded[j]), j))
        results: list[Completion | None] = [None] * len(expanded)
        size = self.gen.max_batch_size
        for chunk, start in enumerate(range(0, len(order), size)):
            idx = order[start : start + size]
            seed = None if params.seed is None else params.seed + chunk
            batch = self._batch([expanded[j] for j in idx], params, seed)
            for j, completion in zip(idx, batch, strict=True):
                results[j] = completion
        done = [c for c in results if c is not None]
        return [done[i * params.n : (i + 1) * params.n] for i in range(len(prompts))]

    def _batch(
        self, prompts: list[str], params: SamplingParams, seed: int | None
    ) -> list[Completion]:
        tok, model = self.gen.tokenizer, self.gen.model
        enc = tok(prompts, return_tensors="pt", padding=True, padding_side="left").to(model.device)
        room = model.config.max_position_embeddings - enc["input_ids"].shape[1]
        out = decode(
            model,
            enc["input_ids"],
            enc["attention_mask"],
            max_new_tokens=min(params.max_tokens, room),
            eos_id=tok.eos_token_id,
            pad_id=tok.pad_token_id,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=seed,
        )
        return [self.gen._completion(ids, params) for ids in out.tolist()]


def prefix_jobs(prefixes: int) -> list[PrefixJob]:
    """The first `prefixes` distinct step prefixes of arith validation reference solutions."""
    jobs: list[PrefixJob] = []
    problems = ArithTask().load("validation", max(8, prefixes))
    for p in problems:
        if p.solution is None:
            continue
        jobs += unique_jobs([(p.id, p.question, str(p.answer), list(p.solution.steps))])
        if len(jobs) >= prefixes:
            break
    return jobs[:prefixes]


CHUNK = 32
"""Prefixes per generate call, as the `sorm-label` stage's `chunk` in the recipes."""


def _work(target: Any, params: SamplingParams, rows: int) -> Any:
    """The stage's chunk work: `roll_out` with the chunk's seed. `target` is a generator,
    or a student folder to load one of `rows` rows from (in a process of its own)."""
    if not hasattr(target, "generate"):
        target = EmbeddedGenerator.from_pretrained(target, max_batch_size=rows)

    def work(part: Sequence[PrefixJob], index: int) -> list[dict[str, Any]]:
        seeded = replace(params, seed=(params.seed or 0) + index)
        return [to_json(r) for r in roll_out(target, part, seeded)]

    return work


def _staged(
    target: object,
    jobs: list[PrefixJob],
    params: SamplingParams,
    chunk: int,
    *,
    split: dict[str, int],
    width: int,
) -> Any:
    """The stage's path: `roll_out` per chunk of `chunk` prefixes through
    `run_chunks_split` (`split`: in_flight, processes, threads; a process's own generator
    has `width` rows; files in a temporary folder); -> (seconds, rows)."""
    import tempfile
    from functools import partial
    from pathlib import Path

    from training.chunks import run_chunks_split

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        make = partial(_work, target, params, width)
        done = run_chunks_split(Path(tmp), jobs, chunk, make, "bench", **split)
        return time.perf_counter() - t0, [PrefixRollouts(**r) for r in done]


def bench_rollouts(
    gen: object,
    prefixes: int = 64,
    k: int = 8,
    max_tokens: int = 160,
    *,
    chunk: int = CHUNK,
    student: str | None = None,
) -> dict[str, Any]:
    """Rollouts/s of the `sorm-label` stage's path over the same prefixes, side by side:
    the fixed batches it had before, one chunk at a time (the baseline); continuous
    batching one chunk at a time (the stage now, `IN_FLIGHT` 1); continuous batching with
    two chunks at once; and, given the `student` folder, two processes of one thread each
    (`gen_processes: 2`, their start included). The stage's sampling: temperature 1,
    `max_tokens` 160."""
    from training.chunks import IN_FLIGHT

    if not isinstance(gen, EmbeddedGenerator):
        return {"skipped": "the student is not local"}
    jobs = prefix_jobs(prefixes)
    params = SamplingParams(n=k, temperature=1.0, max_tokens=max_tokens, seed=7)
    baseline = FixedBatches(gen)
    roll_out(gen, jobs[:2], params)  # warm up both paths: first calls pay one-off costs
    roll_out(baseline, jobs[:2], params)
    out: dict[str, Any] = {"prefixes": len(jobs), "k": k, "rollouts": len(jobs) * k}
    out["chunk"] = chunk
    threads = torch.get_num_threads()
    one = {"processes": 1, "threads": threads}
    ways: list[tuple[str, object, dict[str, int]]] = [
        ("fixed", baseline, {**one, "in_flight": 1}),
        ("continuous", gen, {**one, "in_flight": 1}),
        ("in_flight", gen, {**one, "in_flight": 2}),
    ]
    if student is not None and threads >= 2:
        ways.append(("processes", student, {"processes": 2, "threads": threads // 2}))
    for name, target, split in ways:
        steps = gen.scheduler.steps, gen.scheduler.row_steps
        seconds, rows = _staged(target, jobs, params, chunk, split=split, width=gen.max_batch_size)
        steps_each = sum(len(c) for r in rows for c in r.rollouts) / max(1, len(jobs) * k)
        out[name] = {
            "seconds": round(seconds, 3),
            "chunks_at_once": split.get("in_flight", IN_FLIGHT) * split["processes"],
            "steps_per_rollout": round(steps_each, 2),  # all sample the same distribution
            "positive_prefixes": sum(r.positive for r in rows),
        }
        if target is gen:
            ran, rows_run = gen.scheduler.steps - steps[0], gen.scheduler.row_steps - steps[1]
            out[name]["rows_per_step"] = round(rows_run / max(1, ran), 1)
            out[name]["decode_tokens"] = rows_run  # a row's step decodes one token
    n = out["rollouts"]
    return {
        **out,
        "rollouts_per_s": round(n / out["continuous"]["seconds"], 1),
        "baseline_rollouts_per_s": round(n / out["fixed"]["seconds"], 1),
        "speedup": round(out["fixed"]["seconds"] / out["continuous"]["seconds"], 2),
        "in_flight_speedup": round(out["fixed"]["seconds"] / out["in_flight"]["seconds"], 2),
        **(
            {"processes_speedup": round(out["fixed"]["seconds"] / out["processes"]["seconds"], 2)}
            if "processes" in out
            else {}
        ),
        "threads": torch.get_num_threads(),
    }
