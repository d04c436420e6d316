"""The refinement report (the paper's main table): every strategy row over the same
questions through `GLoRe.solve_batch`, scored against the answers."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from evaluation.config import ROW_STRATEGY, EvalConfig
from evaluation.metrics import (
    bootstrap_mean,
    bootstrap_paired_delta,
    fixes_of_wrong_drafts,
    within_question_ranking,
)
from glore import GLoRe
from glore.engine.result import SolveResult
from glore.formats import Problem, answers_equal, parse_number


@dataclass
class RowRun:
    correct: list[bool] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    candidates: list[dict[str, bool]] = field(default_factory=list)
    """Per question: candidate name -> right."""
    orm: list[dict[str, float]] = field(default_factory=list)
    """Per question: candidate name -> ORM score (what the rerank compared)."""
    arithmetic_ok: list[dict[str, bool]] = field(default_factory=list)
    """Per question: candidate name -> no step's arithmetic is wrong (the exact check)."""
    winners: list[str] = field(default_factory=list)


def is_right(answer: str | None, problem: Problem) -> bool:
    value = None if answer is None else parse_number(answer)
    return value is not None and answers_equal(value, problem.answer, problem.tolerance)


def run_row(engine: GLoRe, row: str, problems: Sequence[Problem], cfg: EvalConfig) -> RowRun:
    strategy, options = ROW_STRATEGY[row]
    out = RowRun()
    for start in tqdm(range(0, len(problems), cfg.batch), desc=row, unit="batch"):
        chunk = problems[start : start + cfg.batch]
        began = time.perf_counter()
        results = engine.solve_batch(
            [p.question for p in chunk],
            strategy,
            **{"max_tokens": cfg.max_tokens, "seed": cfg.seed, **cfg.engine, **options},
        )
        per_question = (time.perf_counter() - began) / len(chunk)
        for problem, result in zip(chunk, results, strict=True):
            _record(out, problem, result, per_question)
    return out


def _record(out: RowRun, problem: Problem, result: SolveResult, seconds: float) -> None:
    out.correct.append(is_right(result.answer, problem))
    out.tokens.append(result.total_tokens)
    out.seconds.append(seconds)
    out.candidates.append({c.name: is_right(c.answer, problem) for c in result.candidates})
    out.orm.append({c.name: c.orm_score or 0.0 for c in result.candidates})
    out.arithmetic_ok.append({c.name: c.arithmetic_ok for c in result.candidates})
    out.winners.append(result.winner)


def _rate(hits: Sequence[bool], among: Sequence[bool]) -> float | None:
    picked = [h for h, a in zip(hits, among, strict=True) if a]
    return sum(picked) / len(picked) if picked else None


def summarise(
    row: str, run: RowRun, draft_right: Sequence[bool], cfg: EvalConfig
) -> dict[str, Any]:
    acc = bootstrap_mean([float(c) for c in run.correct], cfg.bootstrap, cfg.seed)
    delta = bootstrap_paired_delta(
        [float(c) for c in run.correct], [float(d) for d in draft_right], cfg.bootstrap, cfg.seed
    )
    n = len(run.correct)
    return {
        "row": row,
        "strategy": ROW_STRATEGY[row][0] if row in ROW_STRATEGY else row,
        "accuracy": acc.mean,
        "ci95": [acc.low, acc.high],
        "delta_vs_greedy": delta.mean,
        "delta_ci95": [delta.low, delta.high],
        "fix_rate": _rate(run.correct, [not d for d in draft_right]),
        "break_rate": _rate([not c for c in run.correct], draft_right),
        "tokens_per_question": sum(run.tokens) / n,
        "seconds_per_question": sum(run.seconds) / n,
        "winners": {w: run.winners.count(w) for w in sorted(set(run.winners))},
    }


def _oracle(glore: RowRun) -> RowRun:
    """Any of the glore row's candidates (draft, global, local) right: the rerank ceiling."""
    return RowRun(
        correct=[any(c.values()) for c in glore.candidates],
        tokens=list(glore.tokens),
        seconds=list(glore.seconds),
        candidates=glore.candidates,
        winners=["any"] * len(glore.candidates),
    )


def caught(run: RowRun) -> dict[str, int]:
    """How often the exact check finds wrong arithmetic in a draft: what `rerank: checked`
    can act on (wrong drafts caught) and what it costs (right drafts flagged, by a slip
    that did not change the answer)."""
    pairs = [
        (right["draft"], ok["draft"])
        for right, ok in zip(run.candidates, run.arithmetic_ok, strict=True)
    ]
    return {
        "wrong_drafts": sum(not r for r, _ in pairs),
        "wrong_caught": sum(not r and not ok for r, ok in pairs),
        "right_drafts": sum(r for r, _ in pairs),
        "right_flagged": sum(r and not ok for r, ok in pairs),
    }


def ranking(run: RowRun) -> dict[str, float | int | None]:
    """How well the ORM orders candidates *of one question*
    (`evaluation.metrics.within_question_ranking`); reranking can only help above 0.5."""
    groups = [
        [(ok, scores[n]) for n, ok in right.items()]
        for right, scores in zip(run.candidates, run.orm, strict=True)
    ]
    share, pairs = within_question_ranking(groups)
    return {"pairs": pairs, "right_above_wrong": share}


def refine_report(engine: GLoRe, problems: Sequence[Problem], cfg: EvalConfig) -> dict[str, Any]:
    questions = list(problems[: cfg.questions])
    runs = {row: run_row(engine, row, questions, cfg) for row in cfg.rows}
    draft_right = _draft_right(runs)
    table = [summarise(row, run, draft_right, cfg) for row, run in runs.items()]
    result: dict[str, Any] = {"questions": len(questions), "rows": table}
    if "glore" in runs:
        table.append(summarise("oracle", _oracle(runs["glore"]), draft_right, cfg))
        result["overlap"] = fixes_of_wrong_drafts(runs["glore"].candidates, draft_right)
        result["ranking"] = ranking(runs["glore"])
        result["checked"] = caught(runs["glore"])
        result["abstention"] = abstention(runs["glore"], engine.models.abstain_below)
    return result


def abstention(run: RowRun, threshold: float) -> dict[str, Any]:
    """Coverage against accuracy of a row when it abstains below each threshold, and at the
    store's (`evaluation.abstention`)."""
    from evaluation.abstention import at, curve

    answers = [
        (ok, scores[w]) for ok, scores, w in zip(run.correct, run.orm, run.winners, strict=True)
    ]
    return {"threshold": threshold, "at_threshold": at(answers, threshold), "curve": curve(answers)}


def _draft_right(runs: dict[str, RowRun]) -> list[bool]:
    """Per question: was the greedy draft right (every refining row drafts the same way)."""
    if "greedy" in runs:
        return list(runs["greedy"].correct)
    for run in runs.values():
        if run.candidates and "draft" in run.candidates[0]:
            return [c["draft"] for c in run.candidates]
    raise ValueError("the refinement table needs the greedy row or a refining row")
