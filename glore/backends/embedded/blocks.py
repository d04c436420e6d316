"""The lean step's KV cache: rows ("slots") that each have their own length, stored in blocks
of `BLOCK` positions so that attention reads contiguous memory.

`SlotCache` keeps each layer's keys as `[slots, heads, capacity, dim]` and attention reads
the first `window` positions of it: a strided view whose (row, head) matrices sit
`capacity` positions apart. On this project's CPU, reading that view cost SDPA, or a
batched matmul, two to three times what the same data cost when contiguous
(`docs/results/probes/attention_layout.py`, 64 rows, 129 positions, two threads: SDPA over
the view 1.5 ms a layer, two batched matmuls over a contiguous copy 0.5), and the cliff
came as soon as the gap passed three positions, so no capacity slack is small enough. Here a
layer's keys are `[blocks, slots, heads, BLOCK, dim]`: block b of the running rows,
`keys[b, :rows]`, is one contiguous tensor, and attention is one batched matmul per block
for the scores and one for the values, over the blocks the longest row reaches (for a few
rows, `GATHER_ROWS`, one over a copy of their blocks). Positions past a row's length (the
rest of its last block, and blocks it does not reach) are masked.

The scheduler uses it with the lean Llama step (`llama_step`); the model's own forward, the
reference for other layouts, keeps `SlotCache`. Rows are slots 0..rows-1 as there: a row
that finishes is replaced by the last one, and a joining prompt is copied in after them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as nnf

from glore.backends.embedded.slots import load_prompt

BLOCK = 32
"""Positions per block. Smaller blocks waste less of the last one and cost more matmul
calls. At 64 rows on two threads of this CPU (`docs/results/probes/attention_layout.py`),
blocks of 32 took 0.8 ms a layer at 129 positions against 0.9-1.0 for 16 and 64; at 300
positions 32 and 64 were within noise of each other and 16 was slower."""


GATHER_ROWS = 4
"""Up to this many rows, attention copies the rows' blocks into one tensor and runs SDPA
over it: for a few rows the copy is small and a call per block costs more; from 8 rows
the copy cost several times the blocks' matmuls on this CPU (the crossover was between 4
and 8). One row still decodes 10-15% slower than over the slot cache's view, which
needed no copy (`docs/results/probes/decode_ab.py`); greedy calls of one row go to
CTranslate2 where it is installed (`greedy_engine="auto"`)."""


def blocks_for(positions: int) -> int:
    """Blocks that hold `positions` positions."""
    return -(-positions // BLOCK)


class BlockLayer:
    """One model layer's keys and values, `[blocks, slots, kv_heads, BLOCK, dim]`."""

    def __init__(self) -> None:
        self.k = self.v = torch.empty(0)

    def reserve(self, like: torch.Tensor, slots: int, capacity: int) -> None:
        """Room for `slots` rows of `capacity` positions, keeping what is there. `like` is a
        prompt's `[kv_heads, length, dim]` keys (their dtype, device and head shape)."""
        blocks = blocks_for(capacity)
        if self.k.dim() == 5:
            if self.k.shape[0] >= blocks and self.k.shape[1] >= slots:
                return
            blocks, slots = max(blocks, self.k.shape[0]), max(slots, self.k.shape[1])
        shape = (blocks, slots, like.shape[0], BLOCK, like.shape[-1])
        new_k, new_v = like.new_zeros(shape), like.new_zeros(shape)
        if self.k.dim() == 5:
            b, s = self.k.shape[:2]
            new_k[:b, :s], new_v[:b, :s] = self.k, self.v
        self.k, self.v = new_k, new_v

    def load(self, slot: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """A prompt's `[kv_heads, length, dim]` keys and values into positions 0..length-1."""
        for store, part in ((self.k, keys), (self.v, values)):
            length = part.shape[1]
            full = length // BLOCK
            if full:
                blocks = part[:, : full * BLOCK].reshape(part.shape[0], full, BLOCK, -1)
                store[:full, slot] = blocks.transpose(0, 1)
            if length > full * BLOCK:
                store[full, slot, :, : length - full * BLOCK] = part[:, full * BLOCK :]

    def move(self, src: int, dst: int, length: int) -> None:
        n = blocks_for(length)
        self.k[:n, dst] = self.k[:n, src]
        self.v[:n, dst] = self.v[:n, src]

    def write(self, keys: torch.Tensor, values: torch.Tensor, at: BlockIndex) -> None:
        """Each running row's new `[rows, kv_heads, dim]` key and value at its length."""
        self.k[at.block, at.row, :, at.offset] = keys
        self.v[at.block, at.row, :, at.offset] = values

    def attend(self, q: torch.Tensor, bias: torch.Tensor, scale: float) -> torch.Tensor:
        """Attention of each row's `[rows, heads, dim]` query over its cached positions:
        `[rows, heads * dim]`. `bias` is `BlockCache.step`'s `[rows, 1, blocks * BLOCK]`
        (0 where a row sees the position, -inf past its length). A query head h reads key
        head h // (heads / kv_heads), as grouped-query attention repeats them."""
        rows, heads, dim = q.shape
        kv, n = self.k.shape[2], bias.shape[-1] // BLOCK
        if rows <= GATHER_ROWS:  # one SDPA over a copy of the rows' blocks
            keys, values = self._gathered(self.k, rows, n), self._gathered(self.v, rows, n)
            out = nnf.scaled_dot_product_attention(
                q[:, :, None], keys, values, bias[:, None], scale=scale, enable_gqa=kv != heads
            )
            return out.view(rows, heads * dim)
        qq = q.reshape(rows * kv, heads // kv, dim)
        blocks = [self._block(self.k, b, rows) for b in range(n)]
        scores = torch.cat([torch.bmm(qq, k.transpose(1, 2)) for k in blocks], dim=-1)
        scores = scores.view(rows, heads, n * BLOCK).mul_(scale).add_(bias)
        p = torch.softmax(scores, dim=-1).view(rows * kv, heads // kv, n * BLOCK)
        out = torch.bmm(p[..., :BLOCK], self._block(self.v, 0, rows))
        for b in range(1, n):
            out.baddbmm_(p[..., b * BLOCK : (b + 1) * BLOCK], self._block(self.v, b, rows))
        return out.view(rows, heads * dim)

    @staticmethod
    def _block(store: torch.Tensor, b: int, rows: int) -> torch.Tensor:
        """Block b of the running rows, `[rows * kv_heads, BLOCK, dim]`: a view, contiguous."""
        return store[b, :rows].view(rows * store.shape[2], BLOCK, store.shape[-1])

    @staticmethod
    def _gathered(store: torch.Tensor, rows: int, n: int) -> torch.Tensor:
        """The first n blocks of the running rows, `[rows, kv_heads, n * BLOCK, dim]`: a copy."""
        kv, dim = store.shape[2], store.shape[-1]
        return store[:n, :rows].permute(1, 2, 0, 3, 4).reshape(rows, kv, n * BLOCK, dim)


class BlockIndex:
    """Where each running row's new position goes: its block, its slot, its offset."""

    def __init__(self, lengths: torch.Tensor) -> None:
        self.block = torch.div(lengths, BLOCK, rounding_mode="floor")
        self.offset = lengths - self.block * BLOCK
        self.row = torch.arange(lengths.shape[0], device=lengths.device)


class BlockCache:
    """The model's layers of blocks, and where the running rows write this step. The scheduler
    calls `step` before each decode step; `layers[i].attend` reads what the step wrote."""

    def __init__(self, layers: int) -> None:
        self.layers = [BlockLayer() for _ in range(layers)]
        self.at = BlockIndex(torch.zeros(0, dtype=torch.long))

    def load(self, slot: int, prompt: Any, row: int, length: int, *, slots: int, room: int) -> None:
        load_prompt(self.layers, slot, prompt, row, length, slots=slots, room=room)

    def move(self, src: int, dst: int, length: int) -> None:
        for layer in self.layers:
            layer.move(src, dst, length)

    def step(self, lengths: torch.Tensor) -> torch.Tensor:
        """Set up a decode step of `len(lengths)` rows, each writing at its length: the
        additive bias `[rows, 1, blocks * BLOCK]` that lets row r see positions
        0..lengths[r] (its new token included)."""
        self.at = BlockIndex(lengths)
        width = blocks_for(int(lengths.max()) + 1) * BLOCK
        seen = torch.arange(width, device=lengths.device)[None, :] <= lengths[:, None]
        bias = torch.zeros(seen.shape, dtype=self.layers[0].k.dtype, device=lengths.device)
        return bias.masked_fill(~seen, float("-inf"))[:, None, :]
