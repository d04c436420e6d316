"""One refinement round: global and local refinements of the current best candidates,
run concurrently, then scored by the ORM (for the rerank) and the SORM (for the evidence)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from glore.engine.choice import choose
from glore.engine.config import EngineConfig
from glore.engine.hooks import StageHook, emit
from glore.engine.result import Candidate
from glore.engine.rules import Choice, first_error, flagged_error
from glore.engine.steps import Costs, Models, global_refine, local_refine, score
from glore.formats import check_steps, first_wrong

Chooser = Callable[[Sequence[Candidate], float], Choice]
"""How a strategy picks its answer from the candidates, given the rerank margin."""


def where(values: Sequence[float], c: Candidate, cfg: EngineConfig) -> int:
    """The step the local refiner restarts from: the SORM's first error, or with
    `where: checked` the earlier of it and the first wrong arithmetic."""
    if cfg.where == "checked":
        wrong = first_wrong(c.checks) if c.checks else None
        flagged = flagged_error(values, wrong, cfg.tau_where)
        if flagged is not None:
            return flagged[0]
    return first_error(values, cfg.tau_where)


async def score_all(
    models: Models,
    questions: Sequence[str],
    cands: Sequence[tuple[int, Candidate]],
    costs: Costs,
    cfg: EngineConfig,
    *,
    on_stage: StageHook | None = None,
) -> None:
    """ORM and SORM for every candidate, concurrently, and the exact step checks; fills
    `orm_score`, `sorm_values`, `checks` and `first_error`.

    The ORM's score of a solution is its value at the last step (the answer line). With
    `on_stage`, reports an `orm` then a `sorm` event per question."""
    items = [(i, questions[i], c) for i, c in cands]
    orm, sorm = await asyncio.gather(
        score(models.orm, items, costs, "orm"), score(models.sorm, items, costs, "sorm")
    )
    for (i, c), o, s in zip(cands, orm, sorm, strict=True):
        c.orm_score = o[-1] if o else 0.0
        c.sorm_values = s
        c.orm_values = o
        c.checks = check_steps(questions[i], c.steps)
        c.first_error = where(s, c, cfg) if s else None
    if on_stage is None:
        return
    by_question: dict[int, list[Candidate]] = {}
    for i, c in cands:
        by_question.setdefault(i, []).append(c)
    for i, group in by_question.items():
        orm_scores = [{"candidate": c.name, "orm_score": c.orm_score} for c in group]
        await emit(on_stage, "orm", {"index": i, "scores": orm_scores})
    for i, group in by_question.items():
        sorm_scores = [
            {
                "candidate": c.name,
                "sorm_values": c.sorm_values,
                "first_error": c.first_error,
                "checks": [x.check for x in c.checks or []],
            }
            for c in group
        ]
        await emit(on_stage, "sorm", {"index": i, "scores": sorm_scores})


def best(pool: list[Candidate], margin: float = 0.0, rerank_by: str = "orm") -> Candidate:
    return pool[choose(pool, margin, rerank_by).index]


@dataclass(frozen=True)
class Plan:
    """Which refiners a strategy uses, and whose per-step values place the local one."""

    use_global: bool
    use_local: bool
    critic: str  # "sorm" or "orm"


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
    With `on_stage`, reports each scored refinement as a `global` or `local` event."""
    suffix = "" if r == 0 else f"-{r + 1}"
    margin = models.margin(cfg.rerank_margin)
    bases = {i: best(pools[i], margin, cfg.rerank) for i in todo}
    g_items = [(i, questions[i], bases[i]) for i in todo] if plan.use_global else []
    l_items = []
    for i in todo if plan.use_local else []:
        values = bases[i].sorm_values if plan.critic == "sorm" else bases[i].orm_values
        if values:
            l_items.append((i, questions[i], bases[i], where(values, bases[i], cfg)))
    try:
        g, loc = await asyncio.gather(
            global_refine(models, g_items, cfg.max_tokens, costs) if g_items else _none(),
            local_refine(models, l_items, cfg.max_tokens, costs) if l_items else _none(),
        )
        new = [(it[0], c) for it, c in zip(g_items, g, strict=True)]
        new += [(it[0], c) for it, c in zip(l_items, loc, strict=True)]
        for _, c in new:
            c.name += suffix
        await score_all(models, questions, new, costs, cfg)
    except Exception as exc:  # any backend failure: keep the draft, say why
        for i in todo:
            degraded[i] = f"refinement failed: {type(exc).__name__}: {exc}"
        return
    for i, c in new:
        pools[i].append(c)
    for k, (i, c) in enumerate(new):
        stage = "global" if k < len(g_items) else "local"
        await emit(on_stage, stage, {"index": i, "candidate": asdict(c)})


async def _none() -> list[Candidate]:
    return []
