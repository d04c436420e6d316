"""Would the local refiner fix more if it were not allowed to write the flagged step again?
A research record (issue 11, ablation E43), not part of the package:

    python docs/results/probes/local_norepeat.py [STORE] [START] [QUESTIONS] [TRIES]

On QUESTIONS (default 300) arith validation questions from START (default 0), the engine's
`glore` strategy in `always` mode. Where the SORM flagged a step of the draft and the local
candidate writes that step again word for word, the local refiner is drawn again at
temperature 1 (seeds 1..TRIES, default 4) until its first new step differs. The redrawn
candidates are scored as the engine scores every candidate and the pool {draft, global,
local} is reranked with the store's guard. Prints the counts as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence

from evaluation.config import EvalConfig
from evaluation.inputs import load_problems
from evaluation.refine_report import is_right
from glore import GLoRe
from glore.backends.sync import run_sync
from glore.engine.choice import best
from glore.engine.result import Candidate, SolveResult
from glore.engine.steps import Costs, local_refine, score_all
from glore.formats import Problem


def _repeats(draft: Candidate, local: Candidate) -> bool:
    e = draft.first_error
    return e is not None and e < len(local.steps) and local.steps[e] == draft.steps[e]


def redraw(
    engine: GLoRe, problems: Sequence[Problem], results: Sequence[SolveResult], tries: int
) -> dict[int, Candidate]:
    """Question index -> the first temperature-1 local candidate that leaves the flagged step."""
    left = [
        i
        for i, r in enumerate(results)
        if r.candidate("draft").first_error_flagged
        and (loc := r.find("local")) is not None
        and _repeats(r.candidate("draft"), loc)
    ]
    found: dict[int, Candidate] = {}
    for seed in range(1, tries + 1):
        drafts = {i: results[i].candidate("draft") for i in left}
        items = [(i, problems[i].question, d, d.first_error or 0) for i, d in drafts.items()]
        costs = Costs(len(problems))
        out = run_sync(local_refine(engine.models, items, 256, costs, temperature=1.0, seed=seed))
        left = []
        for (i, _, d, _), c in zip(items, out, strict=True):
            if _repeats(d, c):
                left.append(i)
            else:
                found[i] = c
    return found


def main(store: str, start: int, n: int, tries: int) -> None:
    cfg = EvalConfig(task="arith", split="validation", questions=start + n, reward_questions=1)
    problems = load_problems(cfg)[start : start + n]
    engine = GLoRe.from_pretrained(store)
    t0 = time.perf_counter()
    results = engine.solve_batch([p.question for p in problems], "glore", mode="always", seed=0)
    found = redraw(engine, problems, results, tries)
    cfg_e = engine._config({})
    questions = [p.question for p in problems]
    run_sync(score_all(engine.models, questions, list(found.items()), Costs(n), cfg_e))
    guard = engine.models.guard(cfg_e)
    counts: dict[str, float] = {"questions": n, "flagged_copies": 0, "redrawn": len(found)}
    counts |= {"wrong_flagged_copies": 0, "local_right_before": 0, "local_right_after": 0}
    counts |= {"greedy_right": 0, "glore_right_before": 0, "glore_right_after": 0}
    for i, (p, r) in enumerate(zip(problems, results, strict=True)):
        draft, loc = r.candidate("draft"), r.find("local")
        pool = [c for c in r.candidates if c.name in ("draft", "global", "local")]
        before = best(pool, guard, cfg_e.rerank)
        after = before
        if i in found:
            after = best([c for c in pool if c.name != "local"] + [found[i]], guard, cfg_e.rerank)
        counts["greedy_right"] += is_right(draft.answer, p)
        counts["glore_right_before"] += is_right(before.answer, p)
        counts["glore_right_after"] += is_right(after.answer, p)
        copied = draft.first_error_flagged and loc is not None and _repeats(draft, loc)
        counts["flagged_copies"] += bool(copied)
        if copied and loc is not None and not is_right(draft.answer, p):
            counts["wrong_flagged_copies"] += 1
            counts["local_right_before"] += is_right(loc.answer, p)
            counts["local_right_after"] += i in found and is_right(found[i].answer, p)
    counts["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(counts, indent=1))


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        args[0] if args else "model_store/default",
        int(args[1]) if len(args) > 1 else 0,
        int(args[2]) if len(args) > 2 else 300,
        int(args[3]) if len(args) > 3 else 4,
    )
