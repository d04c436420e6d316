"""`glore bench engine`: the engine's speed, measured side by side in one run.

(a) 64 concurrent `solve` calls (micro-batched) against the same 64 one at a time, with
    the lane's busy time in the concurrent run split between scorer batches and decoding;
(b) wall time and tokens per question of `gated` and `always` against the draft alone;
(c) the share of pipeline time spent in ORM and SORM scoring: with the scorers as they were
    before the token budget and prefix cache, as they are by default (float32 on a CPU),
    and in bfloat16;
(d) decode tokens per second at several batch sizes: the served scheduler (its lean Llama
    step), the same scheduler stepping through the model's forward, the lean fixed-batch
    loop and `model.generate`, each as a fraction of this machine's matmul FLOP rate;
(e) SORM-stage rollouts/s (K per step prefix) through the generator's continuous batching
    against the fixed batches it had before (`bench.rollouts`);
(f) ORM-stage training tokens/s, length-grouped and bf16 against today's random float32
    batches (`bench.train`; skipped with `train_steps=0`).
(g) each goal row's ceiling on this machine, from the parts above and the student's
    projections and attention timed alone (`bench.ceilings`; a local student only).
Ratios are what to read: absolute numbers move with the machine's load. `bench.goals`
prints the fast-generation issue's goal table from the report.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from glore.backends.base import SamplingParams
from glore.backends.embedded.lane import LANE, on_lane
from glore.engine.glore import GLoRe
from glore.engine.loading import GreedyEngine
from glore.engine.result import SolveResult
from glore.formats import student_prompt
from glore.tasks.arith import ArithTask


def matmul_flops(size: int = 1024, repeats: int = 20, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of a square matmul on this machine now: the physical ceiling."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - started)


def _cold(engine: GLoRe) -> None:
    """Empty the scorers' prefix caches: a timed run must not reuse an earlier run's work
    on the same questions."""
    for scorer in (engine.models.orm, engine.models.sorm):
        for kept in (getattr(scorer, "cache", None), getattr(scorer, "shared", None)):
            if kept is not None:
                kept.clear()


def _concurrency(engine: GLoRe, questions: Sequence[str]) -> dict[str, Any]:
    async def together() -> list[SolveResult]:
        return list(await asyncio.gather(*(engine.asolve(q) for q in questions)))

    async def one_by_one() -> list[SolveResult]:
        return [await engine.asolve(q) for q in questions]

    _cold(engine)
    lane, t0 = LANE.time(), time.perf_counter()
    asyncio.run(together())
    merged = time.perf_counter() - t0
    busy = LANE.time() - lane
    _cold(engine)
    t0 = time.perf_counter()
    asyncio.run(one_by_one())
    serial = time.perf_counter() - t0
    n = len(questions)
    return {
        "questions": n,
        "concurrent_qps": round(n / merged, 2),
        "sequential_qps": round(n / serial, 2),
        "speedup": round(serial / merged, 2),
        # How the lane spent the concurrent run: scorer batches (jobs) and decoding.
        "lane_jobs_s": round(busy.jobs_s, 3),
        "lane_steps_s": round(busy.steps_s, 3),
    }


def _modes(engine: GLoRe, questions: Sequence[str], store: str | None = None) -> dict[str, Any]:
    """(b); `always_staged` runs the stages one after another (`overlap=False`, as before
    the global refinement started while the draft is scored); with `store`, also `always`
    with the SORM on a model of its own (`always_apart`, as before the loader let a SORM
    on the ORM's base share its passes)."""
    out: dict[str, Any] = {}
    runs: dict[str, tuple[str, dict[str, Any]]] = {
        "draft_only": ("greedy", {}),
        "gated": ("glore", {"mode": "gated"}),
        "always": ("glore", {"mode": "always"}),
        "always_staged": ("glore", {"mode": "always", "overlap": False}),
    }
    for name, (strategy, options) in runs.items():
        out[name] = _timed_mode(engine, questions, strategy, options)
    default = engine.models.orm, engine.models.sorm
    if store is not None and getattr(default[1], "shared", None) is not None:
        engine.models.orm, engine.models.sorm = _open_pair(store, {}, share=False)
        try:
            out["always_apart"] = _timed_mode(engine, questions, "glore", {"mode": "always"})
        finally:
            engine.models.orm, engine.models.sorm = default
    base = out["draft_only"]["wall_s"]
    for name in ("gated", "always", "always_staged", "always_apart"):
        if name in out:
            out[name]["wall_vs_draft"] = round(out[name]["wall_s"] / base, 2)
    return out


def _timed_mode(
    engine: GLoRe, questions: Sequence[str], strategy: str, options: dict[str, Any]
) -> dict[str, Any]:
    _cold(engine)
    t0 = time.perf_counter()
    results = engine.solve_batch(list(questions), strategy, **options)
    wall = time.perf_counter() - t0
    return {
        "wall_s": round(wall, 3),
        "tokens_per_question": round(sum(r.total_tokens for r in results) / len(results), 1),
        "refined": sum(r.refined for r in results),
    }


class _TimedScorer:
    """Records when each scoring call ran, so overlapping ORM and SORM calls count once."""

    def __init__(self, inner: Any, spans: list[tuple[float, float]]) -> None:
        self.inner, self.spans = inner, spans

    async def score(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        start = time.perf_counter()
        try:
            return list(await self.inner.score(items))
        finally:
            self.spans.append((start, time.perf_counter()))


def _union(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(spans):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def _scoring_share(engine: GLoRe, questions: Sequence[str]) -> dict[str, float]:
    """Wall time during which an ORM or SORM call was running, over the whole `always` run,
    starting from empty prefix caches (a repeat of the same questions would hit them)."""
    spans: list[tuple[float, float]] = []
    _cold(engine)
    orm, sorm = engine.models.orm, engine.models.sorm
    engine.models.orm, engine.models.sorm = _TimedScorer(orm, spans), _TimedScorer(sorm, spans)
    try:
        t0 = time.perf_counter()
        engine.solve_batch(list(questions), "glore", mode="always")
        wall = time.perf_counter() - t0
    finally:
        engine.models.orm, engine.models.sorm = orm, sorm
    out = {
        "scoring_s": round(_union(spans), 3),
        "wall_s": round(wall, 3),
        "share": round(_union(spans) / wall, 4),
    }
    if hasattr(orm, "cache"):
        out["prefix_cache_hit_rate"] = round(orm.cache.stats.hit_rate, 3)
    return out


SCORER_VARIANTS: dict[str, tuple[dict[str, Any], bool]] = {
    "float32_plain": ({"prefix_cache_mb": 0, "max_batch_tokens": 1 << 30}, False),
    "float32_apart": ({}, False),
    "float32": ({}, True),
    "bfloat16": ({"dtype": "bfloat16"}, True),
}
"""(c)'s scorers, (options, whether the SORM shares the ORM's model as the loader makes it
where both are likelihood verifiers on one base): float32 as before the token budget and
prefix cache (one pass per 64 solutions, nothing reused); float32 with each its own model
and cache, as before the SORM shared the ORM's passes; the default (float32 on a CPU); and
bfloat16."""


def _open_pair(store: str, options: dict[str, Any], share: bool) -> tuple[Any, Any]:
    from glore.backends.embedded.scorers import open_scorer, sibling_scorer

    orm_dir, sorm_dir = Path(store) / "orm", Path(store) / "sorm"
    orm = open_scorer(orm_dir, **options)
    twin = sibling_scorer(orm, orm_dir, sorm_dir) if share else None
    return orm, twin if twin is not None else open_scorer(sorm_dir, **options)


def _scoring(engine: GLoRe, store: str, questions: Sequence[str], peak: float) -> dict[str, Any]:
    """(c) for each of `SCORER_VARIANTS`, one after another on the same engine, and how far
    each moves the ORM's and SORM's probabilities from the default's on the same drafts;
    then how fast one scoring pass runs, against the matmul peak."""
    from glore.backends.embedded.scorer import EmbeddedScorer

    default = engine.models.orm, engine.models.sorm
    if not all(isinstance(s, EmbeddedScorer) for s in default):
        return {"skipped": "the scorers are not local"}
    drafts = [r.candidates[0] for r in engine.solve_batch(list(questions), "greedy")]
    items = [(q, d.steps) for q, d in zip(questions, drafts, strict=True) if d.steps]
    out: dict[str, Any] = {}
    for name, (options, share) in SCORER_VARIANTS.items():
        scorers = _open_pair(store, options, share)
        diff = 0.0
        for a, b in zip(default, scorers, strict=True):
            pa, pb = asyncio.run(a.score(items)), asyncio.run(b.score(items))
            for ra, rb in zip(pa, pb, strict=True):
                diff = max(diff, *(abs(x - y) for x, y in zip(ra, rb, strict=True)))
        engine.models.orm, engine.models.sorm = scorers
        try:
            out[name] = {**_scoring_share(engine, questions), "max_prob_diff": round(diff, 6)}
        finally:
            engine.models.orm, engine.models.sorm = default
    out["forward"] = _scoring_rate(engine, questions, peak)
    return out


def _scoring_rate(engine: GLoRe, questions: Sequence[str], peak: float) -> dict[str, Any]:
    """FLOP rate of the ORM over every candidate of an `always` run, prefix cache off."""
    results = engine.solve_batch(list(questions), "glore", mode="always")
    items = [(r.question, c.steps) for r in results for c in r.candidates if c.steps]
    orm: Any = engine.models.orm
    plain = orm.replica(prefix_cache_mb=0)
    lengths = [len(plain._row(q, steps).ids) for q, steps in items]
    plain.score_sync(items)
    seconds = min(_timed(plain.score_sync, items) for _ in range(2))
    flops = sum(_prefill_flops(plain.model, n) for n in lengths)
    return {
        "tokens": sum(lengths),
        "tokens_per_s": round(sum(lengths) / seconds, 1),
        "fraction_of_matmul_peak": round(flops / seconds / peak, 4),
    }


def _timed(fn: Any, *args: Any) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def _prefill_flops(model: Any, length: int) -> float:
    """FLOPs of one forward pass over `length` tokens: every weight once per token (the
    embedding is a lookup) and causal attention (QK and AV over half the square)."""
    cfg = model.config
    weights = sum(int(p.numel()) for n, p in model.named_parameters() if "embed" not in n)
    attention = 2 * int(cfg.num_hidden_layers) * int(cfg.hidden_size) * length * length
    return 2.0 * weights * length + attention


def _flops_per_token(model: Any, context: int) -> float:
    """Multiply-adds of one decode step (x2 for FLOPs): every weight once, the output
    projection over the vocabulary, and attention reading `context` cached keys and values."""
    cfg = model.config
    weights = sum(int(p.numel()) for n, p in model.named_parameters() if "embed" not in n)
    weights += int(cfg.vocab_size) * int(cfg.hidden_size)  # the (tied) output projection
    attention = 2 * int(cfg.num_hidden_layers) * context * int(cfg.hidden_size)
    return 2.0 * weights + 2.0 * attention


def _decode_speed(
    engine: GLoRe, questions: Sequence[str], sizes: Sequence[int], peak: float
) -> list[dict[str, Any]]:
    """Greedy tokens/s at each batch size: the served generator (its continuous-batching
    scheduler and lean Llama step), that scheduler through the model's forward, the lean
    fixed-batch loop it replaced, and `model.generate`. Each runs
    twice and the faster run counts, as in `glore bench ct2`: a single cold run charged
    whichever went first with the allocations the others reused."""
    gen: Any = embedded_student(engine)
    rows = []
    for size in sizes:
        prompts = [student_prompt(q).text for q in (list(questions) * 64)[:size]]
        row: dict[str, Any] = {"batch": size, "context": 0}
        runs = (
            ("scheduler", _served),
            ("scheduler_forward", _served_forward),
            # On the lane, the thread the scheduler decodes on: every row timed on one thread.
            ("lean", on_lane(_lean)),
            ("hf_generate", on_lane(_hf)),
        )
        for name, run in runs:
            rate, context = _best_rate(run, gen, prompts)
            if name == "scheduler":
                row["context"] = context  # the mean cached positions a step attends to
            flops = rate * _flops_per_token(gen.model, context)
            row[name] = {
                "tokens_per_s": round(rate, 1),
                "fraction_of_matmul_peak": round(flops / peak, 4),
            }
        for name in ("scheduler", "scheduler_forward", "lean"):
            rate = row[name]["tokens_per_s"] / row["hf_generate"]["tokens_per_s"]
            row[f"{name}_vs_hf"] = round(rate, 2)
        rate = row["scheduler"]["tokens_per_s"] / row["scheduler_forward"]["tokens_per_s"]
        row["lean_step_speedup"] = round(rate, 2)
        rows.append(row)
    return rows


def _best_rate(run: Any, gen: Any, prompts: list[str]) -> tuple[float, int]:
    """The faster of two runs' tokens/s, and the mean context."""
    rates = []
    for _ in range(2):
        t0 = time.perf_counter()
        tokens, context = run(gen, prompts)
        rates.append(tokens / (time.perf_counter() - t0))
    return max(rates), context


DECODE_TOKENS = 96
"""New tokens per row in the decode-speed part."""


def _served(gen: Any, prompts: list[str]) -> tuple[int, int]:
    """Tokens (each row's EOS counted, as the loops below count it) and the mean context."""
    params = SamplingParams(n=1, temperature=0.0, max_tokens=DECODE_TOKENS)
    done = [c[0] for c in gen.generate_sync(prompts, params)]
    tokens = sum(c.tokens + (c.finish_reason == "stop") for c in done)
    longest = max(len(gen.tokenizer(p)["input_ids"]) for p in prompts)
    return tokens, longest + max(c.tokens for c in done) // 2


def _served_forward(gen: Any, prompts: list[str]) -> tuple[int, int]:
    """`_served` with the scheduler stepping through the model's own forward."""
    served = gen.scheduler
    gen.scheduler = served.replica(lean_step=False)
    try:
        return _served(gen, prompts)
    finally:
        gen.scheduler = served


def _lean(gen: Any, prompts: list[str]) -> tuple[int, int]:
    from glore.backends.embedded.decode import decode

    enc = gen.tokenizer(prompts, return_tensors="pt", padding=True, padding_side="left")
    new = decode(
        gen.model,
        enc["input_ids"],
        enc["attention_mask"],
        max_new_tokens=DECODE_TOKENS,
        eos_id=gen.tokenizer.eos_token_id,
        pad_id=gen.tokenizer.pad_token_id,
    )
    tokens = int((new != gen.tokenizer.pad_token_id).sum())
    return tokens, enc["input_ids"].shape[1] + new.shape[1] // 2


def _hf(gen: Any, prompts: list[str]) -> tuple[int, int]:
    tok = gen.tokenizer
    enc = tok(prompts, return_tensors="pt", padding=True, padding_side="left")
    with torch.inference_mode():
        out = gen.model.generate(
            **enc,
            do_sample=False,
            max_new_tokens=DECODE_TOKENS,
            pad_token_id=tok.pad_token_id,
            eos_token_id=tok.eos_token_id,
        )
    new = out[:, enc["input_ids"].shape[1] :]
    return int((new != tok.pad_token_id).sum()), enc["input_ids"].shape[1] + new.shape[1] // 2


def embedded_student(engine: GLoRe) -> Any:
    """The student's embedded generator, also where CTranslate2 takes its greedy calls
    (`GreedyOnCt2.fallback`): the decode, rollouts and ceilings parts time its scheduler."""
    student = engine.models.student
    return getattr(student, "fallback", student)


def bench_engine(
    store: str,
    n: int = 64,
    sizes: Sequence[int] = (1, 8, 32, 64),
    *,
    prefixes: int = 64,
    k: int = 8,
    train_steps: int = 40,
    greedy_engine: GreedyEngine = "torch",
) -> dict[str, Any]:
    """The report; `greedy_engine` serves (a)-(c) (torch, the reference, by default:
    issue 12's goal table is the embedded generator's)."""
    from bench.ceilings import ceilings
    from bench.rollouts import bench_rollouts
    from bench.train import bench_train

    torch.manual_seed(0)
    engine = GLoRe.from_pretrained(store, greedy_engine=greedy_engine)
    questions = [p.question for p in ArithTask().load("validation", n)]
    engine.solve(questions[0])  # warm up: first calls pay one-off costs
    # On the compute lane, where every model runs: a thread of its own would add an
    # OpenMP team and slow the lane (glore.backends.embedded.lane).
    peak = LANE.call(matmul_flops)
    peak_bf16 = LANE.call(lambda: matmul_flops(dtype=torch.bfloat16))
    report = {
        "machine": {
            "threads": torch.get_num_threads(),
            "matmul_gflops": round(peak / 1e9, 1),
            "matmul_gflops_bf16": round(peak_bf16 / 1e9, 1),
            "greedy_engine": greedy_engine,
        },
        "concurrency": _concurrency(engine, questions),
        "modes": _modes(engine, questions, store),
        "scoring": _scoring(engine, store, questions, peak),
        "decode": _decode_speed(engine, questions, sizes, peak),
        "rollouts": bench_rollouts(
            embedded_student(engine), prefixes, k, student=f"{store}/student"
        ),
    }
    if train_steps > 0:
        report["training"] = bench_train(store, steps=train_steps)
    model = getattr(embedded_student(engine), "model", None)
    if model is not None:  # a local student: the ceilings time its shapes
        report["ceilings"] = ceilings(report, model.config)
    return report
