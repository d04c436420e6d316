"""A KV cache of rows ("slots") that each have their own length, for continuous batching
through the model's own forward (the reference, and the path of models whose layers the lean
step does not run; the lean step has its block layout, `blocks.BlockCache`).

Row r holds its positions 0..lengths[r]-1 from the left; a decode step writes each row's
new key and value at its own length, and attention reads the first `window` positions of
every row under a mask of the positions each row has. Running rows are always slots
0..rows-1: a row that finishes is replaced by the last one (one row's copy, not the whole
cache's), and a joining row's prompt, prefilled on its own, is copied in after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer


class SlotLayer(DynamicLayer):  # type: ignore[no-untyped-call]
    """One model layer's slots: `[slots, kv_heads, capacity, head_dim]` keys and values."""

    def __init__(self, owner: SlotCache) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.owner = owner
        self._k = self._v = torch.empty(0)

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Called by the model in a decode step: `[rows, heads, 1, dim]` at each row's length."""
        owner = self.owner
        rows, at = owner.row_index, owner.lengths
        self._k[rows, :, at] = key_states[:, :, 0]
        self._v[rows, :, at] = value_states[:, :, 0]
        self.keys = self._k[: owner.rows, :, : owner.window]
        self.values = self._v[: owner.rows, :, : owner.window]
        return self.keys, self.values

    def reserve(self, like: torch.Tensor, slots: int, capacity: int) -> None:
        """Room for `slots` rows of `capacity` positions, keeping what is there."""
        if self._k.dim() == 4 and self._k.shape[0] >= slots and self._k.shape[2] >= capacity:
            return
        if self._k.dim() == 4:
            slots, capacity = max(slots, self._k.shape[0]), max(capacity, self._k.shape[2])
        shape = (slots, like.shape[0], capacity, like.shape[-1])
        new_k, new_v = like.new_zeros(shape), like.new_zeros(shape)
        if self._k.dim() == 4:
            new_k[: self._k.shape[0], :, : self._k.shape[2]] = self._k
            new_v[: self._v.shape[0], :, : self._v.shape[2]] = self._v
        self._k, self._v = new_k, new_v
        self.is_initialized = True
        self.dtype, self.device = like.dtype, like.device

    def load(self, slot: int, keys: torch.Tensor, values: torch.Tensor) -> None:
        """A prompt's `[heads, length, dim]` keys and values into positions 0..length-1."""
        self._k[slot, :, : keys.shape[1]] = keys
        self._v[slot, :, : values.shape[1]] = values

    def move(self, src: int, dst: int, length: int) -> None:
        self._k[dst, :, :length] = self._k[src, :, :length]
        self._v[dst, :, :length] = self._v[src, :, :length]

    def get_seq_length(self, *args: Any, **kwargs: Any) -> int:
        return self.owner.window


def load_prompt(
    layers: Sequence[Any], slot: int, prompt: Any, row: int, length: int, *, slots: int, room: int
) -> None:
    """Row `row` of a left-padded prefill cache `prompt` (its last `length` positions) into
    `slot` of each of a cache's `layers` (with `reserve` and `load`, whatever their layout),
    after making room for `slots` rows of `room` positions."""
    for layer, part in zip(layers, prompt.layers, strict=True):
        keys, values = part.keys[row, :, -length:], part.values[row, :, -length:]
        layer.reserve(keys, slots, room)
        layer.load(slot, keys, values)


class SlotCache(Cache):
    """The model's layers of slots, and the lengths and window of the running rows. The
    scheduler sets `lengths` (a tensor, one per running row) and `window` before each step;
    `mask` is the attention mask of that step."""

    def __init__(self, layers: int) -> None:
        self.rows = 0
        self.window = 0
        self.lengths = torch.zeros(0, dtype=torch.long)
        self.row_index = torch.zeros(0, dtype=torch.long)
        """0..rows-1, made once a step for every layer's write."""
        super().__init__(layers=[SlotLayer(self) for _ in range(layers)])

    @property
    def slot_layers(self) -> list[SlotLayer]:
        return [layer for layer in self.layers if isinstance(layer, SlotLayer)]

    def load(self, slot: int, prompt: Any, row: int, length: int, *, slots: int, room: int) -> None:
        load_prompt(self.slot_layers, slot, prompt, row, length, slots=slots, room=room)

    def move(self, src: int, dst: int, length: int) -> None:
        for layer in self.slot_layers:
            layer.move(src, dst, length)

    def step(self, lengths: torch.Tensor, boolean: bool) -> torch.Tensor:
        """Set up a decode step of `len(lengths)` rows; the mask `[rows, 1, 1, window]` lets
        row r see positions 0..lengths[r] (its new token included): boolean for SDPA, else
        additive in the cache's dtype (eager attention adds it)."""
        self.rows, self.lengths = int(lengths.shape[0]), lengths
        self.row_index = torch.arange(self.rows, device=lengths.device)
        self.window = int(lengths.max()) + 1
        seen = torch.arange(self.window, device=lengths.device)[None, :] <= lengths[:, None]
        if boolean:
            return seen[:, None, None, :]
        dtype = self.slot_layers[0].dtype
        blocked = torch.zeros(seen.shape, dtype=dtype, device=lengths.device)
        return blocked.masked_fill(~seen, torch.finfo(dtype).min)[:, None, None, :]
