"""What does a decode step's attention cost for each layout of the KV cache? A research
record (issue 12: `glore.backends.embedded.blocks`), not part of the package:

    python docs/results/probes/attention_layout.py [THREADS] [ROWS] [POSITIONS]

One query per row (ROWS, default 64) over POSITIONS (default 129) cached positions, 8
heads of 32, float32, six layers' caches in turn (so that they do not all sit in the
cache of the CPU), microseconds per layer, best of five runs of 20 steps:

- `sdpa, slots view (capacity C)`: the slot cache's layout `[rows, heads, C, dim]`, SDPA
  over its first POSITIONS positions under the step's boolean mask (the lean step before
  the blocks);
- `bmm, slots view (capacity C)`: the same view, scores and values by two batched matmuls,
  for C just above POSITIONS and at the power of two above it (256 for 129 positions):
  how far apart the (row, head) matrices may sit;
- `bmm, contiguous`: the same positions copied to a tensor of their own (no layout keeps
  them so while rows grow);
- `blocks of B`: `BlockLayer.attend` over `[blocks, rows, heads, B, dim]`, B 16, 32, 64.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch
from torch.nn import functional as nnf

from glore.backends.embedded import blocks

HEADS, DIM, LAYERS = 8, 32, 6


def _per_layer(run: Callable[[int], object]) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(20):
            for layer in range(LAYERS):
                run(layer)
        best = min(best, (time.perf_counter() - started) / 20 / LAYERS)
    return best * 1e6


def _two_bmm(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> None:
    rows, w = k.shape[0], k.shape[2]
    kk, vv = k.reshape(rows * HEADS, w, DIM), v.reshape(rows * HEADS, w, DIM)
    s = torch.bmm(q.reshape(rows * HEADS, 1, DIM), kk.transpose(1, 2)).view(rows, HEADS, w)
    p = torch.softmax(s.mul_(DIM**-0.5).add_(bias), -1).view(rows * HEADS, 1, w)
    torch.bmm(p, vv)


def _slots(
    q: torch.Tensor, bias: torch.Tensor, seen: torch.Tensor, capacity: int, *, wide: bool
) -> dict[str, float]:
    rows, positions = q.shape[0], bias.shape[-1]
    ks = [torch.randn(rows, HEADS, capacity, DIM)[:, :, :positions] for _ in range(LAYERS)]
    vs = [torch.randn(rows, HEADS, capacity, DIM)[:, :, :positions] for _ in range(LAYERS)]
    out = {
        f"bmm, slots view (capacity {capacity})": _per_layer(
            lambda i: _two_bmm(q, ks[i], vs[i], bias)
        )
    }
    if wide:  # the scheduler's room: a power of two above prompt and answer
        mask = seen[:, None, None, :]
        out[f"sdpa, slots view (capacity {capacity})"] = _per_layer(
            lambda i: nnf.scaled_dot_product_attention(
                q[:, :, None], ks[i], vs[i], attn_mask=mask, scale=DIM**-0.5
            )
        )
        cs, ds = [k.contiguous() for k in ks], [v.contiguous() for v in vs]
        out["bmm, contiguous"] = _per_layer(lambda i: _two_bmm(q, cs[i], ds[i], bias))
    return out


def _blocks(q: torch.Tensor, positions: int, size: int) -> float:
    kept, blocks.BLOCK = blocks.BLOCK, size  # the probe's own setting, put back below
    try:
        cache = blocks.BlockCache(LAYERS)
        width = blocks.blocks_for(positions) * size
        bias = torch.zeros(q.shape[0], 1, width)
        bias[..., positions:] = float("-inf")
        for layer in cache.layers:
            layer.k = torch.randn(width // size, q.shape[0], HEADS, size, DIM)
            layer.v = torch.randn(width // size, q.shape[0], HEADS, size, DIM)
        return _per_layer(lambda i: cache.layers[i].attend(q, bias, DIM**-0.5))
    finally:
        blocks.BLOCK = kept


def main(threads: int = 2, rows: int = 64, positions: int = 129) -> None:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    q = torch.randn(rows, HEADS, DIM)
    lengths = torch.full((rows,), positions - 1) - torch.arange(rows) % 7
    seen = torch.arange(positions)[None] <= lengths[:, None]
    bias = torch.zeros(rows, 1, positions).masked_fill(~seen[:, None], float("-inf"))
    out: dict[str, float] = {}
    with torch.inference_mode():
        wide = 1 << positions.bit_length()
        for capacity in (positions + 1, positions + 3, positions + 4, wide):
            out |= _slots(q, bias, seen, capacity, wide=capacity == wide)
        for size in (16, 32, 64):
            out[f"blocks of {size}"] = _blocks(q, positions, size)
    print(f"threads {threads}, rows {rows}, positions {positions}: us per layer")
    for name, us in out.items():
        print(f"  {name:<38} {us:8.0f}")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
