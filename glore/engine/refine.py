"""One refinement round: global and local refinements of the current best candidates,
run concurrently, then scored like every candidate (`glore.engine.steps.score_all`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from glore.engine.choice import best
from glore.engine.config import EngineConfig
from glore.engine.hooks import StageHook, emit
from glore.engine.result import Candidate
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
) -> None:
    """Add this round's refinements to `pools[i]` for each i in `todo`. A backend failure
    marks those questions degraded (their pools keep what they had) instead of raising.
    With `on_stage`, reports each scored refinement as a `global`, `local` or `repair`
    event."""
    suffix = "" if r == 0 else f"-{r + 1}"
    margin = models.margin(cfg.rerank_margin)
    bases = {i: best(pools[i], margin, cfg.rerank) for i in todo}
    g_items = [(i, questions[i], bases[i]) for i in todo] if plan.use_global else []
    l_items = []
    for i in todo if plan.use_local else []:
        values = bases[i].sorm_values if plan.critic == "sorm" else bases[i].orm_values
        if values:
            l_items.append((i, questions[i], bases[i], where(values, bases[i], cfg)))
    r_items = []
    for i in todo if plan.use_repair else []:
        found = repairable(bases[i])
        if found is not None:
            r_items.append((i, questions[i], bases[i], *found))
    try:
        g, loc, rep = await asyncio.gather(
            global_refine(models, g_items, cfg.max_tokens, costs) if g_items else _none(),
            local_refine(models, l_items, cfg.max_tokens, costs) if l_items else _none(),
            repair(models, r_items, cfg.max_tokens, costs) if r_items else _none(),
        )
        new = [(it[0], c) for it, c in zip(g_items, g, strict=True)]
        new += [(it[0], c) for it, c in zip(l_items, loc, strict=True)]
        new += [(it[0], c) for it, c in zip(r_items, rep, strict=True)]
        for _, c in new:
            c.name += suffix
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


async def _none() -> list[Candidate]:
    return []
