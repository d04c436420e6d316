"""Does `torch.compile` speed up the lean decode step? A research record (issue 12), not
part of the package:

    python docs/results/probes/compile_step.py [STORE]

The default student's `LlamaStep` at batch 64 over a block cache whose rows hold 30-127
positions, on the compute lane: eager, then `torch.compile(dynamic=True)` of the same step
(its first call's compile time printed), then eager again; ms per step, best of five runs
of 30 steps.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import torch

from glore.backends.embedded.blocks import BlockCache
from glore.backends.embedded.generator import EmbeddedGenerator
from glore.backends.embedded.lane import LANE


def _bench(step: Any, label: str, shape: Any, rows: int = 64) -> None:
    """`step` (the lean step or its compiled call) over a cache laid out for `shape`'s model."""
    torch.manual_seed(0)
    cache = BlockCache(len(shape.layers))
    like = torch.zeros(shape.kv_heads, 1, shape.head_dim)
    for layer in cache.layers:
        layer.reserve(like, rows, 256)
    out: dict[int, tuple[float, float]] = {}
    with torch.inference_mode():
        for longest in (60, 100, 127):
            lengths = torch.randint(longest - 30, longest, (rows,))
            tokens = torch.randint(3, 500, (rows,))
            mask = cache.step(lengths)
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
    assert lean is not None, "the student's layers are Llama's"
    LANE.call(lambda: _bench(lean, "eager", lean))
    compiled = torch.compile(lean.__call__, dynamic=True)
    LANE.call(lambda: _bench(compiled, "compiled", lean))
    LANE.call(lambda: _bench(lean, "eager", lean))


if __name__ == "__main__":
    main(*sys.argv[1:])
