"""E28's cost row (docs/results/ablations.md): `always` wall time against the draft alone,
for several stores or spec files in one process.

A research record, not part of the package:

    python docs/results/probes/always_cost.py SPEC_OR_STORE [SPEC_OR_STORE ...]

64 validation questions, each timing the best of three `GLoRe.solve_batch` runs (`greedy`,
then `glore` with `mode="always"`), each after emptying the scorers' caches.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from glore.engine.glore import GLoRe
from glore.tasks.arith import ArithTask


def _cold(engine: GLoRe) -> None:
    for scorer in (engine.models.orm, engine.models.sorm):
        for kept in (getattr(scorer, "cache", None), getattr(scorer, "shared", None)):
            if kept is not None:
                kept.clear()


def _best(engine: GLoRe, questions: list[str], strategy: str, **options: Any) -> float:
    times = []
    for _ in range(3):
        _cold(engine)
        started = time.perf_counter()
        engine.solve_batch(questions, strategy, **options)
        times.append(time.perf_counter() - started)
    return min(times)


def main(sources: list[str]) -> None:
    questions = [p.question for p in ArithTask().load("validation", 64)]
    engines = {source: GLoRe.from_pretrained(source) for source in sources}
    for engine in engines.values():
        engine.solve(questions[0])  # one-off costs out of the timings
    for source, engine in engines.items():
        shared = engine.models.global_refiner is engine.models.local_refiner
        draft = _best(engine, questions, "greedy")
        always = _best(engine, questions, "glore", mode="always")
        print(
            f"{source}: draft {draft:.2f} s, always {always:.2f} s ({always / draft:.2f}x); "
            f"one backend for both refiners: {shared}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
