"""One refinement round: global and local refinements of the current best candidates,
run concurrently, then scored like every candidate (`glore.engine.steps.score_all`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from glore.engine.choice import best
from glore.engine.config import EngineConfig
from glore.engine.hooks import StageHook, emit
from glore.engine.result import Candidate
from glore.engine.rules import Guard
from glore.engine.steps import (
    Costs,
    Models,
    global_refine,
    local_refine,
    repair,
    repairable,
    score_all,
    where,
)


@dataclass(frozen=True)
class Plan:
    """Which refiners a strategy uses, and whose per-step values place the local one."""

    use_global: bool
    use_local: bool
    critic: str  # "sorm" or "orm"
    use_repair: bool = False
    """Also repair the first wrong arithmetic exactly and let the student continue."""


def start_global(
    models: Models,
    questions: Sequence[str],
    drafts: Sequence[Candidate],
    *,
    cfg: EngineConfig,
    costs: Costs,
    plan: Plan,
) -> asyncio.Task[list[Candidate]] | None:
    """In `always` mode with `cfg.overlap`, the first round's global refinement of every
    draft, started now so that it runs while the drafts are scored: the draft is each
    pool's only candidate, so the round needs no score to know what it refines. None where
    the round must wait for the scores."""
    if not (cfg.overlap and cfg.mode == "always" and plan.use_global and drafts):
        return None
    items = [(i, questions[i], d) for i, d in enumerate(drafts)]
    return asyncio.ensure_future(run_global(models, items, cfg, costs))


async def refine_round(
    models: Models,
    questions: Sequence[str],
    pools: list[list[Candidate]],
    todo: list[int],
    *,
    cfg: EngineConfig,
    costs: Costs,
    plan: Plan,
    r: int,
    degraded: dict[int, str],
    on_stage: StageHook | None = None,
    started: Awaitable[list[Candidate]] | None = None,
) -> None:
    """Add this round's refinements to `pools[i]` for each i in `todo`. A backend failure
    marks those questions degraded (their pools keep what they had) instead of raising.
    With `on_stage`, reports each scored refinement as a `global`, `local` or `repair`
    event. `started`: this round's global refinements, already running (`start_global`)."""
    suffix = "" if r == 0 else f"-{r + 1}"
    guard = models.guard(cfg)
    g_items, l_items, r_items = _items(questions, pools, todo, cfg=cfg, plan=plan, guard=guard)
    if started is not None and [i for i, _, _ in g_items] != list(range(len(pools))):
        asyncio.ensure_future(started).cancel()
        raise AssertionError("a started global refinement must cover every question")

    async def scored(
        made: Awaitable[list[Candidate]], items: Sequence[tuple[Any, ...]]
    ) -> list[tuple[int, Candidate]]:
        new = [(it[0], c) for it, c in zip(items, await made, strict=True)]
        for _, c in new:
            c.name += suffix
        if cfg.overlap:  # score these while the other refiners still generate
            await score_all(models, questions, new, costs, cfg)
        return new

    jobs = []
    if g_items:
        made = run_global(models, g_items, cfg, costs) if started is None else started
        jobs.append(scored(made, g_items))
    if l_items:
        jobs.append(scored(run_local(models, l_items, cfg, costs), l_items))
    if r_items:
        jobs.append(scored(repair(models, r_items, cfg.max_tokens, costs), r_items))
    try:
        parts = await asyncio.gather(*jobs)
        new = [pair for part in parts for pair in part]
        if not cfg.overlap:
            await score_all(models, questions, new, costs, cfg)
    except Exception as exc:  # any backend failure: keep the draft, say why
        for i in todo:
            degraded[i] = f"refinement failed: {type(exc).__name__}: {exc}"
        return
    for i, c in new:
        pools[i].append(c)
    stages = ["global"] * len(g_items) + ["local"] * len(l_items) + ["repair"] * len(r_items)
    for stage, (i, c) in zip(stages, new, strict=True):
        await emit(on_stage, stage, {"index": i, "candidate": asdict(c)})


def run_global(
    models: Models, items: Sequence[tuple[int, str, Candidate]], cfg: EngineConfig, costs: Costs
) -> Awaitable[list[Candidate]]:
    """`global_refine` at the config's temperature and seed."""
    t = cfg.global_temperature
    return global_refine(
        models, items, cfg.max_tokens, costs, temperature=t, seed=cfg.seed if t else None
    )


def run_local(
    models: Models,
    items: Sequence[tuple[int, str, Candidate, int]],
    cfg: EngineConfig,
    costs: Costs,
) -> Awaitable[list[Candidate]]:
    """`local_refine` at the config's temperature and seed."""
    t = cfg.local_temperature
    return local_refine(
        models, items, cfg.max_tokens, costs, temperature=t, seed=cfg.seed if t else None
    )


Items = tuple[
    list[tuple[int, str, Candidate]],
    list[tuple[int, str, Candidate, int]],
    list[tuple[int, str, Candidate, int, str]],
]


def _items(
    questions: Sequence[str],
    pools: list[list[Candidate]],
    todo: list[int],
    *,
    cfg: EngineConfig,
    plan: Plan,
    guard: Guard,
) -> Items:
    """What each refiner is given this round: (question index, question, the pool's best
    candidate, then the local refiner's first error or the repair's step and fix)."""
    bases = {i: best(pools[i], guard, cfg.rerank) for i in todo}
    g_items = [(i, questions[i], bases[i]) for i in todo] if plan.use_global else []
    l_items = []
    for i in todo if plan.use_local else []:
        values = bases[i].sorm_values if plan.critic == "sorm" else bases[i].orm_values
        if values:
            l_items.append((i, questions[i], bases[i], where(values, bases[i], cfg)[0]))
    r_items = []
    for i in todo if plan.use_repair else []:
        found = repairable(bases[i])
        if found is not None:
            r_items.append((i, questions[i], bases[i], *found))
    return g_items, l_items, r_items
