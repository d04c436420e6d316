"""`glore calibrate`: choose a store's rerank margin and floor on validation and keep them in
its manifest.

The safety rule: whatever the models, the engine's default decision must not lose to the
greedy draft on validation. One `glore` run (mode `always`, margin 0) gives every question's
candidates with their ORM scores; the margin only changes which candidate wins, so every
margin of the grid is scored from that one run. The chosen margin is the one with the best
validation accuracy among those at least as accurate as the draft (ties: the larger, which
switches less); when none beats the draft by at least `min_gain` (default one point), 1.0,
which always keeps it: a margin that wins two questions of 300 is noise, and would as
likely lose on fresh problems.

Then the floor, at the chosen margin: the largest of the grid at which validation accuracy
is no lower than with no floor. A refinement below the floor never replaces the draft: where
the ORM scores every candidate low, as on questions unlike those it was fitted on
(`arith-hard`), it cannot tell them apart, and the draft is the safer answer. The floor is
chosen only where it costs nothing on validation, so it keeps drafts that validation says
would not have been fixed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.metrics import fixes_of_wrong_drafts, within_question_ranking
from glore.engine.choice import choose
from glore.engine.rules import ARGMAX, Guard
from glore.errors import ConfigError, InvalidInputError
from glore.formats import check_steps

GRID: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(21))
"""Margins tried: 0, 0.05, ..., 1.0 (1.0 never replaces the draft)."""


@dataclass(frozen=True)
class Scored:
    """One candidate of a question: its name, whether its answer is right, its ORM score.
    The draft comes first."""

    name: str
    right: bool
    orm_score: float
    arithmetic_ok: bool = True
    """No step's arithmetic is wrong (`glore.formats.checks`): what `rerank: checked` reads."""


def picks(questions: Sequence[Sequence[Scored]], guard: Guard, rerank_by: str) -> list[int]:
    """Per question: the index of the candidate the engine's rerank
    (`glore.engine.choice.choose`) would answer with."""
    return [choose(cands, guard, rerank_by).index for cands in questions]


def accuracy_at(
    questions: Sequence[Sequence[Scored]], guard: Guard, rerank_by: str = "orm"
) -> tuple[float, float]:
    """(accuracy, share of questions whose draft was replaced) with this guard."""
    if not questions:
        raise InvalidInputError("calibration needs at least one question")
    chosen = picks(questions, guard, rerank_by)
    right = sum(q[k].right for q, k in zip(questions, chosen, strict=True))
    return right / len(questions), sum(k != 0 for k in chosen) / len(questions)


MIN_GAIN = 0.01
"""Least validation gain over the draft for a margin below 1.0 to be chosen (one point)."""


def choose_margin(
    questions: Sequence[Sequence[Scored]],
    grid: Sequence[float] = GRID,
    min_gain: float = MIN_GAIN,
    rerank_by: str = "orm",
) -> dict[str, Any]:
    """The margin by the rule in the module docstring, with the whole curve."""
    greedy = sum(q[0].right for q in questions) / max(1, len(questions))
    raw = [(m, *accuracy_at(questions, Guard(m), rerank_by)) for m in grid]
    safe = [(acc, m) for m, acc, _ in raw if acc >= greedy]
    best = max(safe, default=None)  # the best accuracy; a tie goes to the larger margin
    chosen = best[1] if best is not None and best[0] - greedy >= min_gain - 1e-9 else 1.0
    curve = [
        {"margin": m, "accuracy": round(acc, 4), "switched": round(sw, 4)} for m, acc, sw in raw
    ]
    return {
        "rerank_margin": chosen,
        "greedy_accuracy": round(greedy, 4),
        "min_gain": min_gain,
        "accuracy": round(accuracy_at(questions, Guard(chosen), rerank_by)[0], 4),
        "curve": curve,
    }


def choose_floor(
    questions: Sequence[Sequence[Scored]],
    margin: float,
    grid: Sequence[float] = GRID,
    rerank_by: str = "orm",
) -> dict[str, Any]:
    """The floor by the rule in the module docstring, at `margin`, with the whole curve.
    0 when the margin already keeps every draft (1.0)."""
    raw = [(f, *accuracy_at(questions, Guard(margin, f), rerank_by)) for f in grid]
    base = accuracy_at(questions, Guard(margin), rerank_by)[0]
    free = [f for f, acc, _ in raw if acc >= base - 1e-9]
    chosen = max(free, default=0.0) if margin < 1.0 else 0.0
    curve = [
        {"floor": f, "accuracy": round(acc, 4), "switched": round(sw, 4)} for f, acc, sw in raw
    ]
    return {"rerank_floor": chosen, "floor_curve": curve}


def write_manifest(store: Path, engine: dict[str, Any]) -> Path:
    """Set keys of the manifest's `engine` section (what `glore.engine.loading` reads),
    keeping the others."""
    path = store / "manifest.json"
    if not path.is_file():
        raise ConfigError(f"{store} has no manifest.json to keep the calibration in")
    data = json.loads(path.read_text())
    data["engine"] = {**(data.get("engine") or {}), **engine}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def outcomes(
    questions: Sequence[Sequence[Scored]], guard: Guard, rerank_by: str = "orm"
) -> dict[str, Any]:
    """What the rerank does with `guard`: accuracy, fixes of wrong drafts, breaks of right
    ones, and the ORM's within-question ranking (right above wrong, ties half)."""
    fixed = broken = wrong = right = 0
    for cands, k in zip(questions, picks(questions, guard, rerank_by), strict=True):
        won = cands[k].right
        if cands[0].right:
            right += 1
            broken += not won
        else:
            wrong += 1
            fixed += won
    share, pairs = within_question_ranking([[(c.right, c.orm_score) for c in q] for q in questions])
    acc, switched = accuracy_at(questions, guard, rerank_by)
    return {
        "margin": guard.margin,
        "floor": guard.floor,
        "rerank": rerank_by,
        "accuracy": round(acc, 4),
        "switched": round(switched, 4),
        "fix_rate": round(fixed / wrong, 4) if wrong else None,
        "break_rate": round(broken / right, 4) if right else None,
        "ranking": None if share is None else round(share, 4),
        "ranking_pairs": pairs,
        "oracle": round(sum(any(c.right for c in q) for q in questions) / len(questions), 4),
    }


def overlap(questions: Sequence[Sequence[Scored]]) -> dict[str, int]:
    """The refinement report's `overlap` of these candidates: the wrong drafts each
    refinement fixes, both and either (`evaluation.metrics.fixes_of_wrong_drafts`)."""
    return fixes_of_wrong_drafts(
        [{c.name: c.right for c in q} for q in questions], [q[0].right for q in questions]
    )


def check_choose_on(choose_on: int, questions: int) -> None:
    """`heldout` needs questions on both sides of `choose_on`."""
    if not 0 < choose_on < questions:
        raise InvalidInputError(
            f"choose_on must be in 1..{questions - 1} (questions - 1); got {choose_on}"
        )


def heldout(
    questions: Sequence[Sequence[Scored]], choose_on: int, *, min_gain: float, rerank_by: str
) -> dict[str, Any]:
    """The guard chosen on the first `choose_on` questions, judged on the ones after them,
    where no choice was made: the protocol of ablations.md since E26 (the first 300
    validation questions have been read by every variant since E13)."""
    check_choose_on(choose_on, len(questions))
    _, section = calibrate(
        questions[:choose_on], min_gain=min_gain, rerank_by=rerank_by, abstain_target=None
    )
    guard = Guard(section["rerank_margin"], section["rerank_floor"])
    rest = questions[choose_on:]
    return {
        "choose_on": choose_on,
        "questions": len(rest),
        "greedy_accuracy": round(sum(q[0].right for q in rest) / len(rest), 4),
        "at_margin": outcomes(rest, guard, rerank_by),
        "argmax": outcomes(rest, ARGMAX, rerank_by),
        "overlap": overlap(rest),
    }


Cache = list[dict[str, Any]]
"""Per question: {"question", "candidates": [{"name", "steps", "right", "orm_score"}]}."""


def collect(engine: Any, problems: Sequence[Any], options: dict[str, Any], batch: int) -> Cache:
    """Every question's glore candidates (draft first) at margin 0: all the curve needs."""
    from evaluation.refine_report import is_right

    out: Cache = []
    for start in range(0, len(problems), batch):
        chunk = problems[start : start + batch]
        results = engine.solve_batch(
            [p.question for p in chunk], "glore", **{**options, "rerank_margin": 0.0}
        )
        for p, r in zip(chunk, results, strict=True):
            cands = [
                {
                    "name": c.name,
                    "steps": c.steps,
                    "right": is_right(c.answer, p),
                    "orm_score": c.orm_score or 0.0,
                }
                for c in r.candidates
            ]
            out.append({"question": p.question, "candidates": cands})
    return out


def candidates_of(key: dict[str, Any], path: Path | None, batch: int) -> Cache:
    """The candidates `key` names ({store, questions, options}, and `task` and `data` when
    the task is not arith): read from `path` when it holds them (refused when it holds
    another key's), else made by one glore run over the task's validation split and
    written there."""
    if path is not None and path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("key") != key:
            raise InvalidInputError(f"{path} holds candidates of {saved.get('key')}, not {key}")
        cache: Cache = saved["questions"]
        return cache
    from evaluation.inputs import validation_problems
    from glore import GLoRe

    task, data = key.get("task", "arith"), key.get("data")
    problems = validation_problems(task, data, int(key["questions"]))
    cache = collect(GLoRe.from_pretrained(key["store"]), problems, dict(key["options"]), batch)
    if path is not None:
        path.write_text(json.dumps({"key": key, "questions": cache}))
    return cache


def rescore(cache: Cache, orm_dir: Path) -> Cache:
    """The same candidates scored by another ORM (a variant's), as the engine scores them."""
    from glore.backends.embedded.scorers import open_scorer

    orm = open_scorer(orm_dir)
    items = [(q["question"], c["steps"]) for q in cache for c in q["candidates"]]
    finals = iter(v[-1] if v else 0.0 for v in orm.score_sync(items))
    return [
        {**q, "candidates": [{**c, "orm_score": next(finals)} for c in q["candidates"]]}
        for q in cache
    ]


def scored(cache: Cache) -> list[list[Scored]]:
    """The cached candidates, each with its exact arithmetic check (made here: it is pure)."""
    return [
        [
            Scored(
                c["name"],
                bool(c["right"]),
                float(c["orm_score"]),
                not any(x.check == "wrong" for x in check_steps(q["question"], c["steps"])),
            )
            for c in q["candidates"]
        ]
        for q in cache
    ]


def winners(
    questions: Sequence[Sequence[Scored]], guard: Guard, rerank_by: str
) -> list[tuple[bool, float]]:
    """Per question: (right, ORM score) of the candidate the engine would answer with."""
    chosen = picks(questions, guard, rerank_by)
    return [(q[k].right, q[k].orm_score) for q, k in zip(questions, chosen, strict=True)]


def calibrate(
    rows: Sequence[Sequence[Scored]],
    *,
    min_gain: float,
    rerank_by: str,
    abstain_target: float | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report, and the manifest keys it would write: the margin and the floor, and with
    `abstain_target` the abstention threshold with them (`evaluation.abstention`)."""
    from evaluation.abstention import choose_threshold

    chosen = choose_margin(rows, min_gain=min_gain, rerank_by=rerank_by)
    margin = chosen["rerank_margin"]
    floor = choose_floor(rows, margin, rerank_by=rerank_by)
    guard = Guard(margin, floor["rerank_floor"])
    report = {
        **chosen,
        **floor,
        "at_margin": outcomes(rows, guard, rerank_by),
        "argmax": outcomes(rows, ARGMAX, rerank_by),
        "keep_draft": outcomes(rows, Guard(1.0), rerank_by),
        "overlap": overlap(rows),
    }
    section: dict[str, Any] = {
        "rerank_margin": margin,
        "rerank_floor": guard.floor,
        "calibration": report,
    }
    if abstain_target is not None:
        abstention = choose_threshold(winners(rows, guard, rerank_by), abstain_target)
        report["abstention"] = abstention
        section["abstain_below"] = abstention["abstain_below"]
    return report, section
