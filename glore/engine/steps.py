"""The pipeline's stages as batch operations on candidates: draft, score, refine.

Each takes and returns lists aligned with the questions, so one backend call serves the
whole batch, and records its time and tokens in the results' stage costs. A strategy runs
`draft`, then `score_all`, then (`glore.engine.refine`) `global_refine` and `local_refine`,
whose candidates `score_all` scores in turn; `glore.engine.choice` picks the winner.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from glore.backends.base import Generator, SamplingParams, StepScorer
from glore.engine.config import EngineConfig
from glore.engine.hooks import StageHook, emit
from glore.engine.result import Candidate, StageCost
from glore.engine.rules import Guard, first_error, flagged_error
from glore.formats import (
    check_steps,
    first_wrong,
    global_prompt,
    local_prompt,
    parse_solution,
    repair_step,
    rollout_prompt,
    student_prompt,
)


@dataclass
class Models:
    """The five models behind the pipeline, each reached through a backend interface."""

    student: Generator
    orm: StepScorer
    sorm: StepScorer
    global_refiner: Generator
    local_refiner: Generator
    versions: dict[str, str] = field(default_factory=dict)
    rerank_margin: float = 0.0
    """The store's calibrated rerank margin (manifest `engine.rerank_margin`; 0 if none):
    what `EngineConfig.rerank_margin=None` means."""
    rerank_floor: float = 0.0
    """The store's calibrated rerank floor (manifest `engine.rerank_floor`; 0 if none):
    what `EngineConfig.rerank_floor=None` means."""

    abstain_below: float = 0.0
    """The store's calibrated abstention threshold (manifest `engine.abstain_below`; 0 if
    none, never abstaining): what `EngineConfig.abstain_below=None` means."""

    def guard(self, cfg: EngineConfig) -> Guard:
        """The rerank's guard of the draft: the config's margin and floor, the store's
        where the config leaves them None."""
        margin = self.rerank_margin if cfg.rerank_margin is None else cfg.rerank_margin
        floor = self.rerank_floor if cfg.rerank_floor is None else cfg.rerank_floor
        return Guard(margin, floor)

    def abstention(self, cfg_threshold: float | None) -> float:
        return self.abstain_below if cfg_threshold is None else cfg_threshold


class Costs:
    """Per question and stage: tokens generated for it, and the wall time of the batched
    stage it took part in (questions of one batch share that time)."""

    def __init__(self, n: int) -> None:
        self.per_question: list[dict[str, StageCost]] = [{} for _ in range(n)]

    def add(self, stage: str, seconds: float, tokens: dict[int, int]) -> None:
        for q, count in tokens.items():
            cost = self.per_question[q].setdefault(stage, StageCost())
            cost.seconds += seconds
            cost.tokens += count


async def generate(
    gen: Generator,
    prompts: Sequence[str],
    params: SamplingParams,
    *,
    names: Sequence[str],
    costs: Costs,
    stage: str,
    qidx: Sequence[int],
    prefixes: Sequence[Sequence[str]] | None = None,
) -> list[list[Candidate]]:
    """`params.n` candidates per prompt; a prefix (local refinement) is prepended to each."""
    started = time.perf_counter()
    outs = await gen.generate(prompts, params)
    result = []
    for i, completions in enumerate(outs):
        kept = list(prefixes[i]) if prefixes is not None else []
        row = []
        for j, c in enumerate(completions):
            solution = parse_solution("\n".join([*kept, c.text]))
            name = names[i] if params.n == 1 else f"{names[i]}-{j}"
            row.append(Candidate.from_solution(name, solution, c.tokens))
        result.append(row)
    tokens = {q: sum(c.tokens for c in cs) for q, cs in zip(qidx, outs, strict=True)}
    costs.add(stage, time.perf_counter() - started, tokens)
    return result


async def draft(
    models: Models,
    questions: Sequence[str],
    params: SamplingParams,
    costs: Costs,
    name: str = "draft",
) -> list[list[Candidate]]:
    """Student solutions for every question (`params.n` each)."""
    prompts = [student_prompt(q).text for q in questions]
    names = [name] * len(questions)
    return await generate(
        models.student,
        prompts,
        params,
        names=names,
        costs=costs,
        stage="draft",
        qidx=range(len(questions)),
    )


async def score(
    scorer: StepScorer, items: Sequence[tuple[int, str, Candidate]], costs: Costs, stage: str
) -> list[list[float] | None]:
    """Per-step probabilities for each (question index, question, candidate); None for a
    candidate with no steps."""
    started = time.perf_counter()
    idx = [i for i, (_, _, c) in enumerate(items) if c.steps]
    values = await scorer.score([(items[i][1], items[i][2].steps) for i in idx]) if idx else []
    out: list[list[float] | None] = [None] * len(items)
    for i, v in zip(idx, values, strict=True):
        out[i] = v
    costs.add(stage, time.perf_counter() - started, {q: 0 for q, _, _ in items})
    return out


def where(values: Sequence[float], c: Candidate, cfg: EngineConfig) -> tuple[int, bool]:
    """The step the local refiner restarts from, and whether a signal flagged it: the
    SORM's first error, or with `where: checked` the earlier of it and the first wrong
    arithmetic. Not flagged when no step is below `tau_where` (nor, when checked, wrong):
    the restart is then the least trusted step, which is no error."""
    wrong = first_wrong(c.checks) if cfg.where == "checked" and c.checks else None
    flagged = flagged_error(values, wrong, cfg.tau_where)
    if flagged is not None:
        return flagged[0], True
    return first_error(values, cfg.tau_where), False


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
        c.first_error, c.first_error_flagged = where(s, c, cfg) if s else (None, None)
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
                "first_error_flagged": c.first_error_flagged,
                "checks": [x.check for x in c.checks or []],
            }
            for c in group
        ]
        await emit(on_stage, "sorm", {"index": i, "scores": sorm_scores})


async def global_refine(
    models: Models,
    items: Sequence[tuple[int, str, Candidate]],
    max_tokens: int,
    costs: Costs,
    *,
    temperature: float = 0.0,
    seed: int | None = None,
) -> list[Candidate]:
    """A new solution for each (question index, question, draft), written from scratch;
    greedy unless `temperature` > 0 (then each row's draw is fixed by `seed` and its prompt)."""
    prompts = [global_prompt(q, d.steps).text for _, q, d in items]
    params = SamplingParams(n=1, temperature=temperature, max_tokens=max_tokens, seed=seed)
    out = await generate(
        models.global_refiner,
        prompts,
        params,
        names=["global"] * len(prompts),
        costs=costs,
        stage="global",
        qidx=[i for i, _, _ in items],
    )
    return [row[0] for row in out]


async def local_refine(
    models: Models,
    items: Sequence[tuple[int, str, Candidate, int]],
    max_tokens: int,
    costs: Costs,
    name: str = "local",
    *,
    temperature: float = 0.0,
    seed: int | None = None,
) -> list[Candidate]:
    """Refine each (question index, question, draft, first error) from its first error;
    the steps before it are kept verbatim. Greedy unless `temperature` > 0, as in
    `global_refine`."""
    prompts = [local_prompt(q, d.steps, e).text for _, q, d, e in items]
    prefixes = [d.steps[:e] for _, _, d, e in items]
    qidx = [i for i, _, _, _ in items]
    return await _continue(
        models.local_refiner,
        prompts,
        prefixes,
        qidx=qidx,
        name=name,
        params=SamplingParams(n=1, temperature=temperature, max_tokens=max_tokens, seed=seed),
        costs=costs,
    )


async def _continue(
    gen: Generator,
    prompts: Sequence[str],
    prefixes: Sequence[Sequence[str]],
    *,
    qidx: Sequence[int],
    name: str,
    params: SamplingParams,
    costs: Costs,
) -> list[Candidate]:
    """One completion of each prompt (`params.n` is 1), written after its kept prefix of
    steps; the stage is the candidates' name without a round suffix (`local`, `repair`)."""
    out = await generate(
        gen,
        prompts,
        params,
        names=[name] * len(prompts),
        costs=costs,
        stage=name.split("-", maxsplit=1)[0],
        qidx=qidx,
        prefixes=prefixes,
    )
    return [row[0] for row in out]


def repairable(c: Candidate) -> tuple[int, str] | None:
    """The first step whose arithmetic is wrong and that step repaired, if it can be."""
    k = first_wrong(c.checks) if c.checks else None
    if k is None or c.checks is None:
        return None
    fixed = repair_step(c.steps[k], c.checks[k])
    return None if fixed is None else (k, fixed)


async def repair(
    models: Models,
    items: Sequence[tuple[int, str, Candidate, int, str]],
    max_tokens: int,
    costs: Costs,
) -> list[Candidate]:
    """An exact repair of each (question index, question, candidate, step k, repaired step
    k): the steps before k kept, step k's wrong result replaced by the correct value, and
    the student continuing greedily from there (not the paper's: a calculator's fix)."""
    prefixes = [[*c.steps[:k], fixed] for _, _, c, k, fixed in items]
    prompts = [
        rollout_prompt(q, pre).text for (_, q, _, _, _), pre in zip(items, prefixes, strict=True)
    ]
    qidx = [i for i, _, _, _, _ in items]
    return await _continue(
        models.student,
        prompts,
        prefixes,
        qidx=qidx,
        name="repair",
        params=SamplingParams(n=1, temperature=0.0, max_tokens=max_tokens),
        costs=costs,
    )
