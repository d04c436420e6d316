"""Why every embedded model runs on one compute lane (glore/backends/embedded/lane.py).

A research record, not part of the package:

    python docs/results/probes/lane_threads.py [STORE]

One process, the default student, greedy decode of 64 validation prompts (96 new tokens at
most) and 16 prompts x 8 samples at temperature 1, best of three calls each, in this order:

1. `lane`: the student loaded on the process's lane and decoding there (the engine now);
2. `own thread`: the same model through a scheduler with a lane of its own, a second
   thread, as every model had a decode thread before the lane;
3. `lane again`: the lane once more, now that a second thread holds an OpenMP team.

Row 3 shows the slowdown is the process's, not the thread's: once two threads hold teams
(more team threads than cores), libgomp gives up spinning between parallel regions.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from glore.backends.base import SamplingParams
from glore.backends.embedded.generator import EmbeddedGenerator
from glore.backends.embedded.lane import Lane
from glore.formats import student_prompt
from glore.tasks.arith import ArithTask


def _rate(gen: Any, prompts: list[str], params: SamplingParams) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        out = gen.generate_sync(prompts, params)
        best = min(best, time.perf_counter() - started)
    return sum(c.tokens for row in out for c in row) / best


def main(store: str = "model_store/default") -> None:
    gen = EmbeddedGenerator.from_pretrained(f"{store}/student", device="cpu")
    prompts = [student_prompt(p.question).text for p in ArithTask().load("validation", 64)]
    cases = {
        "greedy 64": (prompts, SamplingParams(n=1, temperature=0.0, max_tokens=96)),
        "16 x 8 sampled": (
            prompts[:16],
            SamplingParams(n=8, temperature=1.0, max_tokens=96, seed=1),
        ),
    }
    lane_scheduler = gen.scheduler
    rows: dict[str, dict[str, float]] = {}
    rows["lane"] = {case: _rate(gen, p, params) for case, (p, params) in cases.items()}
    # Built only now: its lean step's weights are made on its own thread, whose first
    # parallel op gives that thread an OpenMP team.
    gen.scheduler = lane_scheduler.replica(lane=Lane("own-thread"))
    rows["own thread"] = {case: _rate(gen, p, params) for case, (p, params) in cases.items()}
    gen.scheduler = lane_scheduler
    rows["lane again"] = {case: _rate(gen, p, params) for case, (p, params) in cases.items()}
    print(f"{'tokens/s':<12}" + "".join(f"{case:>18}" for case in cases))
    for name, rates in rows.items():
        ratio = "".join(
            f"{rates[c]:>10.0f} ({rates[c] / rows['own thread'][c]:.2f}x)" for c in cases
        )
        print(f"{name:<12}{ratio}")


if __name__ == "__main__":
    main(*sys.argv[1:])
