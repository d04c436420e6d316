"""Does `torch.compile` speed up the lean decode step? A research record (issue 12), not
part of the package:

    python docs/results/probes/compile_step.py [STORE]

The default student's `LlamaStep` at batch 64 over a slot cache whose rows hold 30-127
positions, on the compute lane: eager, then `torch.compile(dynamic=True)` of the same step
(its first call's compile time printed), then eager again; ms per step, best of five runs
of 30 steps.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import torch

from glore.backends.embedded.generator import EmbeddedGenerator
from glore.backends.embedded.lane import LANE
from glore.backends.embedded.slots import SlotCache


def _bench(step: Any, label: str, rows: int = 64) -> None:
    torch.manual_seed(0)
    cache = SlotCache(4)
    like = torch.zeros(4, 1, 48)
    for layer in cache.slot_layers:
        layer.reserve(like, rows, 256)
    out: dict[int, tuple[float, float]] = {}
    with torch.inference_mode():
        for longest in (60, 100, 127):
            lengths = torch.randint(longest - 30, longest, (rows,))
            tokens = torch.randint(3, 500, (rows,))
            mask = cache.step(lengths, True)
            started = time.perf_counter()
            step(tokens, lengths, cache, mask)
            first = time.perf_counter() - started
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                for _ in range(30):
                    step(tokens, lengths, cache, mask)
                best = min(best, (time.perf_counter() - started) / 30 * 1e3)
            out[longest] = (round(best, 2), round(first, 1))
    print(f"{label:<10} longest row -> (ms per step, first call s): {out}", flush=True)


def main(store: str = "model_store/default") -> None:
    gen = EmbeddedGenerator.from_pretrained(f"{store}/student", device="cpu")
    lean = gen.scheduler.lean
    LANE.call(lambda: _bench(lean, "eager"))
    compiled = torch.compile(lean.__call__, dynamic=True)
    LANE.call(lambda: _bench(compiled, "compiled"))
    LANE.call(lambda: _bench(lean, "eager"))


if __name__ == "__main__":
    main(*sys.argv[1:])
