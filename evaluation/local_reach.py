"""A diagnostic, not a verifier: why does the local refiner fix so few wrong drafts?

On the first N questions of an arith split, the engine's `glore` strategy (mode `always`)
drafts greedily, scores, and refines every draft once globally and once locally at the
SORM's first error (`glore.engine.steps.where`, as the engine places it). Then, for each
wrong draft, it asks where the local refiner could have helped:

- `sorm_place`: the SORM's first error (the draft's `first_error`, the engine's choice);
- `exact_place`: the first wrong step by the generator's true step values
  (`evaluation.step_labels.exact_labels`, an evaluation tool the engine never sees);
- `any_place`: the local refiner (greedy) with `[BAD]` at every step index of the draft.

The fixes at the SORM's and the exact place are read off the same per-index table as
`any_place`, so they are subsets of it by construction (one generation per index). The
student's own reach is measured by K temperature-1 rollouts from the exact good prefix
(the steps before `exact_place`, `glore.labels.rollouts.roll_out`): a wrong draft the
student can still finish right from there is one a local refiner could fix. The global
candidate is scored on wrong drafts (right, or the draft's answer again) and on right
drafts (kept right), beside the engine's local candidate, which in `always` mode refines
right drafts too, at the SORM's place; on wrong drafts the local candidate is also counted
where it gives the draft's answer again and where it writes the flagged step again word for
word (a greedy refiner that only reproduces the student's mode):

    python -m evaluation.local_reach --store model_store/default --split validation \\
        --questions 200 --k 8 --seed 0 [--out FILE]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evaluation.config import EvalConfig
from evaluation.inputs import load_problems
from evaluation.refine_report import is_right
from evaluation.step_labels import exact_labels
from glore import GLoRe
from glore.backends.base import SamplingParams
from glore.backends.sync import run_sync
from glore.engine.result import Candidate, SolveResult
from glore.engine.steps import Costs, Models, local_refine
from glore.formats import Problem, format_answer
from glore.labels.rollouts import PrefixJob, roll_out


@dataclass
class Row:
    """One question's draft and what became of it."""

    right: bool
    sorm_place: int | None
    """The SORM's first error in the draft (None: no steps to score)."""
    global_right: bool
    global_same: bool
    """The global candidate gives the draft's final answer again."""
    local_right: bool
    """The engine's local candidate (at `sorm_place`) is right."""
    exact_place: int | None = None
    """Wrong drafts: the first wrong step by the true step values."""
    local_at: tuple[bool, ...] = ()
    """Wrong drafts: per step index, the local refiner from `[BAD]` there is right."""
    reach_share: float = 0.0
    """Wrong drafts: the share of K student rollouts from the exact good prefix that is
    right (one sample's chance)."""
    local_same: bool = False
    """The engine's local candidate gives the draft's final answer again."""
    local_repeats: bool = False
    """The engine's local candidate writes the step it was told is bad again, word for word
    (its first new step is the draft's step at `sorm_place`)."""

    @property
    def reach(self) -> bool:
        """Wrong drafts: some of the K rollouts from the exact good prefix is right."""
        return self.reach_share > 0

    def fixed_at(self, place: int | None) -> bool:
        """Wrong drafts: the local refiner from `[BAD]` at `place` is right."""
        return place is not None and self.local_at[place]


def _row(problem: Problem, result: SolveResult) -> Row:
    draft = result.candidate("draft")
    g, loc = result.find("global"), result.find("local")
    right = is_right(draft.answer, problem)
    return Row(
        right=right,
        sorm_place=draft.first_error,
        global_right=g is not None and is_right(g.answer, problem),
        global_same=g is not None and draft.answer is not None and g.answer == draft.answer,
        local_right=loc is not None and is_right(loc.answer, problem),
        exact_place=None if right else _exact_place(problem, draft.steps),
        local_same=loc is not None and draft.answer is not None and loc.answer == draft.answer,
        local_repeats=loc is not None and _repeats(draft, loc),
    )


def _repeats(draft: Candidate, local: Candidate) -> bool:
    at = draft.first_error
    return at is not None and at < len(local.steps) and local.steps[at] == draft.steps[at]


def _exact_place(problem: Problem, steps: Sequence[str]) -> int | None:
    labels = exact_labels(problem, steps, False)
    return None if labels is None else labels.index(False)


def local_everywhere(
    models: Models, problems: Sequence[Problem], drafts: Sequence[Candidate], max_tokens: int
) -> list[tuple[bool, ...]]:
    """Per draft, per step index: is the local refiner's greedy refinement from `[BAD]`
    there right? All in one batch, through the engine's `local_refine`."""
    items = [
        (i, p.question, d, e)
        for i, (p, d) in enumerate(zip(problems, drafts, strict=True))
        for e in range(len(d.steps))
    ]
    out = run_sync(local_refine(models, items, max_tokens, Costs(len(drafts))))
    right: list[list[bool]] = [[] for _ in drafts]
    for (i, _, _, _), c in zip(items, out, strict=True):
        right[i].append(is_right(c.answer, problems[i]))
    return [tuple(r) for r in right]


def reach(
    models: Models,
    problems: Sequence[Problem],
    prefixes: Sequence[Sequence[str]],
    *,
    k: int,
    max_tokens: int,
    seed: int,
) -> list[float]:
    """Per problem: the share of `k` temperature-1 student rollouts from its prefix that
    reach the answer (the SORM labels' rollouts, `roll_out`)."""
    jobs = [
        PrefixJob(p.id, p.question, format_answer(p.answer), tuple(pre))
        for p, pre in zip(problems, prefixes, strict=True)
    ]
    params = SamplingParams(n=k, temperature=1.0, max_tokens=max_tokens, seed=seed)
    rows = roll_out(models.student, jobs, params) if jobs else []
    return [sum(r.correct) / len(r.correct) for r in rows]


def probe_rows(
    engine: GLoRe, problems: Sequence[Problem], *, k: int, max_tokens: int, seed: int
) -> list[Row]:
    """Every question's `Row`: the engine's candidates, then the wrong drafts' probes."""
    results = engine.solve_batch(
        [p.question for p in problems], "glore", mode="always", max_tokens=max_tokens, seed=seed
    )
    rows = [_row(p, r) for p, r in zip(problems, results, strict=True)]
    wrong = [i for i, r in enumerate(rows) if not r.right]
    drafts = [results[i].candidate("draft") for i in wrong]
    picked = [problems[i] for i in wrong]
    tables = local_everywhere(engine.models, picked, drafts, max_tokens)
    located = [j for j, i in enumerate(wrong) if rows[i].exact_place is not None]
    prefixes = [drafts[j].steps[: rows[wrong[j]].exact_place] for j in located]
    picked_located = [picked[j] for j in located]
    reached = reach(
        engine.models, picked_located, prefixes, k=k, max_tokens=max_tokens, seed=seed + 1
    )
    for i, table in zip(wrong, tables, strict=True):
        rows[i].local_at = table
    for j, share in zip(located, reached, strict=True):
        rows[wrong[j]].reach_share = share
    return rows


def summarise(rows: Sequence[Row]) -> dict[str, Any]:
    """Counts over the questions, and each as a rate of the drafts it counts among."""
    wrong = [r for r in rows if not r.right]
    right = [r for r in rows if r.right]
    places = [(r.sorm_place, r.exact_place) for r in wrong]
    both = [(s, e) for s, e in places if s is not None and e is not None]
    among_wrong = {
        "local_fix_sorm_place": sum(r.fixed_at(r.sorm_place) for r in wrong),
        "local_fix_exact_place": sum(r.fixed_at(r.exact_place) for r in wrong),
        "local_fix_any_place": sum(any(r.local_at) for r in wrong),
        "engine_local_fixes": sum(r.local_right for r in wrong),
        "sorm_equals_exact": sum(s == e for s, e in both),
        "sorm_before_exact": sum(s < e for s, e in both),
        "sorm_after_exact": sum(s > e for s, e in both),
        "student_reach_from_exact_prefix": sum(r.reach for r in wrong),
        # The wrong drafts one rollout would fix, in expectation (the sum of each draft's
        # share of right rollouts): a single student sample beside the greedy refiner.
        "student_one_rollout_from_exact_prefix": round(sum(r.reach_share for r in wrong), 2),
        "global_fixes": sum(r.global_right for r in wrong),
        "global_same_answer": sum(r.global_same for r in wrong),
        "local_same_answer": sum(r.local_same for r in wrong),
        "local_repeats_bad_step": sum(r.local_repeats for r in wrong),
    }
    among_right = {
        "global_keeps_right": sum(r.global_right for r in right),
        "local_keeps_right": sum(r.local_right for r in right),
    }
    rates = {k: _rate(v, len(wrong)) for k, v in among_wrong.items()}
    rates |= {k: _rate(v, len(right)) for k, v in among_right.items()}
    return {
        "questions": len(rows),
        "wrong_drafts": len(wrong),
        "right_drafts": len(right),
        **among_wrong,
        **among_right,
        "rates": rates,
    }


def _rate(count: float, among: int) -> float | None:
    return round(count / among, 4) if among else None


def local_reach(
    store: Path, split: str, questions: int, *, k: int = 8, seed: int = 0, max_tokens: int = 256
) -> dict[str, Any]:
    """The probe's report on the first `questions` arith problems of `split`."""
    cfg = EvalConfig(task="arith", split=split, questions=questions, reward_questions=1)
    problems = load_problems(cfg)[:questions]  # as `glore eval` loads them
    engine = GLoRe.from_pretrained(store)
    rows = probe_rows(engine, problems, k=k, max_tokens=max_tokens, seed=seed)
    meta = {"store": str(store), "split": split, "k": k, "seed": seed, "max_tokens": max_tokens}
    return {**summarise(rows), "meta": meta}


def main(argv: Sequence[str]) -> None:
    import argparse

    import torch

    parser = argparse.ArgumentParser(prog="python -m evaluation.local_reach")
    parser.add_argument(
        "--store", type=Path, default=Path("model_store/default"), help="store or spec file"
    )
    parser.add_argument("--split", default="validation")
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--k", type=int, default=8, help="student rollouts per good prefix")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-tokens", type=int, default=EvalConfig.max_tokens)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    report = local_reach(
        args.store, args.split, args.questions, k=args.k, seed=args.seed, max_tokens=args.max_tokens
    )
    text = json.dumps(report, indent=1)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
