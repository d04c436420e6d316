"""Strategies: one signature, `(models, questions, config) -> results`, batch-first.

`glore` is the paper's method (draft; ORM says when; SORM says where; global and local
refinements run concurrently; the ORM reranks). The others are its comparisons, built from
the same stages so their costs compare fairly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, replace
from typing import Protocol

from glore.backends.base import SamplingParams
from glore.engine.choice import best, choose, orm_choice
from glore.engine.config import EngineConfig, Rerank
from glore.engine.hooks import StageHook, emit
from glore.engine.refine import Plan, refine_round, start_global
from glore.engine.result import Candidate, SolveResult
from glore.engine.rules import ARGMAX, Choice, Guard, should_refine, vote
from glore.engine.steps import Costs, Models, draft, score_all
from glore.errors import InvalidInputError


class Strategy(Protocol):
    """`(models, questions, config, on_stage=None) -> results`; `on_stage` hears each stage
    as it finishes (`glore.engine.hooks`)."""

    def __call__(
        self,
        models: Models,
        questions: Sequence[str],
        cfg: EngineConfig,
        on_stage: StageHook | None = None,
    ) -> Awaitable[list[SolveResult]]: ...


def _greedy(cfg: EngineConfig) -> SamplingParams:
    return SamplingParams(n=1, temperature=0.0, max_tokens=cfg.max_tokens)


async def _drafted(on_stage: StageHook | None, rows: Sequence[Sequence[Candidate]]) -> None:
    for i, row in enumerate(rows):
        await emit(on_stage, "draft", {"index": i, "candidates": [asdict(c) for c in row]})


Chooser = Callable[[Sequence[Candidate], Guard], Choice]
"""How a strategy picks its answer from the candidates, given the rerank's guard."""


def vote_choice(cands: Sequence[Candidate], guard: Guard) -> Choice:
    """Answer agreement among the candidates, then the ORM (`glore.engine.rules.vote`)."""
    scores = [c.orm_score or 0.0 for c in cands]
    return vote([c.name for c in cands], [c.answer for c in cands], scores, guard)


def _result(
    question: str,
    strategy: str,
    cands: list[Candidate],
    *,
    refined: bool,
    costs: Costs,
    i: int,
    models: Models,
    guard: Guard,
    rerank_by: str,
    chooser: Chooser = orm_choice,
) -> SolveResult:
    choice = choose(cands, guard, rerank_by, chooser)
    win = cands[choice.index]
    return SolveResult(
        question,
        strategy,
        win.answer,
        win.name,
        choice.reason,
        cands,
        refined,
        stages=costs.per_question[i],
        models=dict(models.versions),
    )


async def _draft_and_score(
    models: Models,
    questions: Sequence[str],
    params: SamplingParams,
    *,
    cfg: EngineConfig,
    costs: Costs,
    on_stage: StageHook | None,
    name: str = "draft",
    plan: Plan | None = None,
) -> tuple[list[list[Candidate]], asyncio.Task[list[Candidate]] | None]:
    """`params.n` student solutions per question, each scored by the ORM and the SORM; with
    a refining `plan`, also its global refinement if it can start before the scores
    (`start_global`), running while they are computed."""
    rows = await draft(models, questions, params, costs, name=name)
    await _drafted(on_stage, rows)
    started = None
    if plan is not None:
        drafts = [row[0] for row in rows]
        started = start_global(models, questions, drafts, cfg=cfg, costs=costs, plan=plan)
    cands = [(i, c) for i, row in enumerate(rows) for c in row]
    try:
        await score_all(models, questions, cands, costs, cfg, on_stage=on_stage)
    except BaseException:
        if started is not None:
            started.cancel()
        raise
    return rows, started


def _best_of(cfg: EngineConfig) -> SamplingParams:
    return SamplingParams(
        n=cfg.best_of, temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=cfg.seed
    )


def _make_sampler(
    name: str, params: Callable[[EngineConfig], SamplingParams], candidate: str
) -> Strategy:
    """A strategy that only samples the student and lets the ORM pick (never refines)."""

    async def run(
        models: Models,
        questions: Sequence[str],
        cfg: EngineConfig,
        on_stage: StageHook | None = None,
    ) -> list[SolveResult]:
        costs = Costs(len(questions))
        rows, _ = await _draft_and_score(
            models,
            questions,
            params(cfg),
            cfg=cfg,
            costs=costs,
            on_stage=on_stage,
            name=candidate,
        )
        # The guard protects a greedy draft; samples have none to protect, so the ORM's
        # highest score wins (a one-sample `greedy` row is the draft either way).
        return [
            _result(
                q,
                name,
                row,
                refined=False,
                costs=costs,
                i=i,
                models=models,
                guard=ARGMAX,
                rerank_by=cfg.rerank,
            )
            for i, (q, row) in enumerate(zip(questions, rows, strict=True))
        ]

    run.__name__ = name
    return run


greedy = _make_sampler("greedy", _greedy, "draft")
"""The student's greedy draft, scored for evidence, never refined."""
best_of_n = _make_sampler("best_of_n", _best_of, "sample")
"""`best_of` samples at `temperature`, reranked by the ORM."""


def _make_refiner(
    plan: Plan,
    name: str,
    *,
    multi_round: bool = False,
    chooser: Chooser = orm_choice,
    rerank: Rerank | None = None,
) -> Strategy:
    """A refining strategy: draft, score, then rounds of `plan` while the ORM says wrong;
    `chooser` picks the answer from the pool at the end; `rerank` fixes the rerank."""

    async def run(
        models: Models,
        questions: Sequence[str],
        cfg: EngineConfig,
        on_stage: StageHook | None = None,
    ) -> list[SolveResult]:
        cfg = cfg if rerank is None else replace(cfg, rerank=rerank)
        costs = Costs(len(questions))
        rows, started = await _draft_and_score(
            models, questions, _greedy(cfg), cfg=cfg, costs=costs, on_stage=on_stage, plan=plan
        )
        pools = [list(row) for row in rows]
        guard = models.guard(cfg)
        rounds = cfg.rounds if multi_round else 1
        degraded = await _rounds(
            models,
            questions,
            pools,
            cfg=cfg,
            costs=costs,
            plan=plan,
            rounds=rounds,
            on_stage=on_stage,
            started=started,
        )
        return [
            _degrade(
                _result(
                    q,
                    name,
                    pool,
                    refined=len(pool) > 1,
                    costs=costs,
                    i=i,
                    models=models,
                    guard=guard,
                    rerank_by=cfg.rerank,
                    chooser=chooser,
                ),
                degraded.get(i),
            )
            for i, (q, pool) in enumerate(zip(questions, pools, strict=True))
        ]

    run.__name__ = name
    return run


async def _rounds(
    models: Models,
    questions: Sequence[str],
    pools: list[list[Candidate]],
    *,
    cfg: EngineConfig,
    costs: Costs,
    plan: Plan,
    rounds: int,
    on_stage: StageHook | None,
    started: asyncio.Task[list[Candidate]] | None = None,
) -> dict[int, str]:
    """Refinement rounds into `pools`; the questions whose refiners failed, with why.
    Round 1 follows the mode; later rounds go on only while the ORM says wrong.
    `started`: round 1's global refinements, already running (`start_global`)."""
    guard = models.guard(cfg)
    degraded: dict[int, str] = {}
    for r in range(rounds):
        mode = cfg.mode if r == 0 else "gated"
        todo = [
            i
            for i, pool in enumerate(pools)
            if i not in degraded
            and should_refine(best(pool, guard, cfg.rerank).orm_score or 0.0, mode, cfg.tau_when)
        ]
        if not todo:
            break
        await refine_round(
            models,
            questions,
            pools,
            todo,
            cfg=cfg,
            costs=costs,
            plan=plan,
            r=r,
            degraded=degraded,
            on_stage=on_stage,
            started=started if r == 0 else None,
        )
    return degraded


def _degrade(result: SolveResult, reason: str | None) -> SolveResult:
    if reason is not None:
        result.degraded, result.degraded_reason = True, reason
    return result


PLANS: dict[str, Plan | None] = {
    "greedy": None,
    "best_of_n": None,
    "global": Plan(True, False, "sorm"),
    "local": Plan(False, True, "sorm"),
    "local_orm": Plan(False, True, "orm"),
    "glore": Plan(True, True, "sorm"),
    "multi_round": Plan(True, True, "sorm"),
    "glore_vote": Plan(True, True, "sorm"),
    "repair": Plan(False, False, "sorm", use_repair=True),
    "glore_repair": Plan(True, True, "sorm", use_repair=True),
}
"""What each strategy refines with (None: it only samples the student); the service
reads it to know which prompts a solve will build."""


def _plan(name: str) -> Plan:
    plan = PLANS[name]
    assert plan is not None
    return plan


STRATEGIES: dict[str, Strategy] = {
    "greedy": greedy,
    "best_of_n": best_of_n,
    "global": _make_refiner(_plan("global"), "global"),
    "local": _make_refiner(_plan("local"), "local"),
    "local_orm": _make_refiner(_plan("local_orm"), "local_orm"),
    "glore": _make_refiner(_plan("glore"), "glore"),
    "multi_round": _make_refiner(_plan("multi_round"), "multi_round", multi_round=True),
    # Not the paper's method: answer agreement among draft, global and local decides first.
    "glore_vote": _make_refiner(_plan("glore_vote"), "glore_vote", chooser=vote_choice),
    # Not the paper's: the first wrong arithmetic repaired exactly and continued by the
    # student; always reranked with the check (a repair is worth something only there).
    "repair": _make_refiner(_plan("repair"), "repair", rerank="checked"),
    "glore_repair": _make_refiner(_plan("glore_repair"), "glore_repair", rerank="checked"),
}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise InvalidInputError(f"unknown strategy {name!r}; strategies: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


__all__ = ["PLANS", "STRATEGIES", "Strategy", "get_strategy"]
