"""What does CTranslate2 as the greedy engine buy a `glore` solve? A research record
(issue 12's engine decision), not part of the package; needs the `ct2` extra:

    python docs/results/probes/ct2_solve.py [STORE] [QUESTIONS]

Two engines on the same store in one process: `greedy_engine="torch"` (the
reference) and `greedy_engine="ct2"` (the student's and both refiners' greedy calls on
CTranslate2, `glore.backends.ct2`; the ORM and SORM the same embedded scorers). On
QUESTIONS (default 32) arith validation questions in `always` mode, in turn (torch, ct2,
then both again; the faster run of each counts): seconds for the questions one at a time
and all at once (`solve_batch`), and how many answers are the same (every stage is
greedy, so they should all be).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from glore import GLoRe
from glore.tasks.arith import ArithTask


def _timed(engine: GLoRe, questions: list[str]) -> tuple[float, float, list[Any]]:
    t0 = time.perf_counter()
    for q in questions:
        engine.solve(q, mode="always")
    alone = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = engine.solve_batch(questions, "glore", mode="always")
    return alone, time.perf_counter() - t0, [r.answer for r in results]


def main(store: str, n: int) -> None:
    questions = [p.question for p in ArithTask().load("validation", n)]
    engines = {
        "torch": GLoRe.from_pretrained(store, greedy_engine="torch"),
        "ct2": GLoRe.from_pretrained(store, greedy_engine="ct2"),
    }
    for engine in engines.values():
        engine.solve(questions[0])  # warm up: first calls pay one-off costs
    best: dict[str, tuple[float, float, list[Any]]] = {}
    for _ in range(2):
        for name, engine in engines.items():
            alone, together, answers = _timed(engine, questions)
            old = best.get(name, (alone, together, answers))
            best[name] = (min(alone, old[0]), min(together, old[1]), answers)
    same = sum(a == b for a, b in zip(best["torch"][2], best["ct2"][2], strict=True))
    for name, (alone, together, _) in best.items():
        print(
            f"{name}: {n} questions one at a time {alone:.2f} s ({alone / n * 1000:.0f} ms "
            f"each), all at once {together:.2f} s"
        )
    print(
        f"ct2 against torch: one at a time {best['torch'][0] / best['ct2'][0]:.2f}x, all at "
        f"once {best['torch'][1] / best['ct2'][1]:.2f}x; same answers {same}/{n}"
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0] if args else "model_store/default", int(args[1]) if len(args) > 1 else 32)
