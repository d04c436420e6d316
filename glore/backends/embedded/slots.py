"""A KV cache for continuous batching whose rows share their prompt's keys and values.

A prompt is prefilled once and its keys and values stored once, in a *prompt slot*; each of
its `n` rows (samples) keeps only the tokens it generated, in a *row slot*. A decode step
writes each row's new key and value at its own length, and attention
(`glore.backends.embedded.slot_attention`) reads every prompt slot once for all its rows and
each row's own tokens, merging the two softmaxes exactly. Reading a prompt once instead
of once per row is what makes K rollouts of a long step prefix cheap: the prompt is most
of a rollout's positions.

Running rows are always row slots 0..rows-1: a row that finishes is replaced by the last
one (one row's copy). A prompt slot is freed when its last row leaves.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer


def _grown(old: torch.Tensor, like: torch.Tensor, slots: int, capacity: int) -> torch.Tensor:
    """`old` (`[slots, heads, capacity, dim]`, or empty) with room for at least `slots` x
    `capacity`, keeping what is there."""
    if old.dim() == 4 and old.shape[0] >= slots and old.shape[2] >= capacity:
        return old
    if old.dim() == 4:
        slots, capacity = max(slots, old.shape[0]), max(capacity, old.shape[2])
    new = like.new_zeros((slots, like.shape[0], capacity, like.shape[-1]))
    if old.dim() == 4:
        new[: old.shape[0], :, : old.shape[2]] = old
    return new


class SlotLayer(DynamicLayer):  # type: ignore[no-untyped-call]
    """One model layer: prompt slots `[prompts, kv_heads, positions, head_dim]` and row
    slots `[rows, kv_heads, generated, head_dim]` of keys and values."""

    def __init__(self, owner: SlotCache) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.owner = owner
        self.prompt_k = self.prompt_v = self.own_k = self.own_v = torch.empty(0)

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Called by the model in a decode step with `[rows, heads, 1, dim]`: written at each
        row's own length; returns the rows' own keys and values (the prompts' are read by the
        attention from `prompt_k` and `prompt_v`)."""
        owner = self.owner
        rows, at = torch.arange(owner.rows, device=owner.own.device), owner.own
        self.own_k[rows, :, at] = key_states[:, :, 0]
        self.own_v[rows, :, at] = value_states[:, :, 0]
        self.keys = self.own_k[: owner.rows, :, : owner.own_window]
        self.values = self.own_v[: owner.rows, :, : owner.own_window]
        return self.keys, self.values

    def load_prompt(self, slot: int, keys: torch.Tensor, values: torch.Tensor, slots: int) -> None:
        """A prompt's `[heads, length, dim]` keys and values into prompt slot `slot`."""
        self.prompt_k = _grown(self.prompt_k, keys, slots, keys.shape[1])
        self.prompt_v = _grown(self.prompt_v, values, slots, values.shape[1])
        self.prompt_k[slot, :, : keys.shape[1]] = keys
        self.prompt_v[slot, :, : values.shape[1]] = values

    def reserve_rows(self, like: torch.Tensor, slots: int, capacity: int) -> None:
        self.own_k = _grown(self.own_k, like, slots, capacity)
        self.own_v = _grown(self.own_v, like, slots, capacity)
        self.is_initialized = True
        self.dtype, self.device = like.dtype, like.device

    def move(self, src: int, dst: int, length: int) -> None:
        self.own_k[dst, :, :length] = self.own_k[src, :, :length]
        self.own_v[dst, :, :length] = self.own_v[src, :, :length]

    def get_seq_length(self, *args: Any, **kwargs: Any) -> int:
        return self.owner.own_window


class SlotCache(Cache):
    """The model's layers of slots and the running rows' bookkeeping. Row r belongs to
    prompt slot `group[r]` as its `member[r]`-th row and has generated `own[r]` tokens;
    `step` sets these up before each decode step."""

    def __init__(self, layers: int) -> None:
        self.rows = 0
        self.own_window = 0
        self.own = self.group = self.member = torch.zeros(0, dtype=torch.long)
        self.prompt_lengths: list[int] = []
        """Per prompt slot: its prompt's length (0 while free)."""
        self._users: list[int] = []
        """Per prompt slot: how many running rows read it."""
        self.masks: tuple[torch.Tensor, torch.Tensor] | None = None
        """This step's (prompt mask `[slots, 1, 1, positions]`, own mask `[rows, 1, 1, window]`),
        True where a position is seen; set by `step`."""
        self.members = 0
        """The most rows any prompt slot has had since its load (the grouped width)."""
        super().__init__(layers=[SlotLayer(self) for _ in range(layers)])

    @property
    def slot_layers(self) -> list[SlotLayer]:
        return [layer for layer in self.layers if isinstance(layer, SlotLayer)]

    def add_prompt(self, prompt: Any, row: int, length: int, users: int) -> int:
        """Row `row` of a left-padded prefill cache `prompt` (its last `length` positions)
        into a free prompt slot that `users` rows will read; returns the slot."""
        slot = next((i for i, n in enumerate(self._users) if n == 0), len(self._users))
        if slot == len(self._users):
            self._users.append(0)
            self.prompt_lengths.append(0)
        self._users[slot], self.prompt_lengths[slot] = users, length
        self.members = max(self.members, users)
        slots = 1 << (len(self._users) - 1).bit_length()  # doubling: few regrowths
        for layer, part in zip(self.slot_layers, prompt.layers, strict=True):
            keys, values = part.keys[row, :, -length:], part.values[row, :, -length:]
            layer.load_prompt(slot, keys, values, slots)
        return slot

    def reserve_rows(self, slots: int, room: int) -> None:
        like = self.slot_layers[0].prompt_k[0]
        for layer in self.slot_layers:
            layer.reserve_rows(like, slots, room)

    def release(self, slot: int) -> None:
        """One row of prompt slot `slot` has left."""
        self._users[slot] -= 1
        if self._users[slot] == 0:
            self.prompt_lengths[slot] = 0
            if not any(self._users):
                self.members = 0

    def move(self, src: int, dst: int, length: int) -> None:
        for layer in self.slot_layers:
            layer.move(src, dst, length)

    def step(self, own: torch.Tensor, group: torch.Tensor, member: torch.Tensor) -> torch.Tensor:
        """Set up a decode step of `len(own)` rows; returns the own mask (row r sees its own
        positions 0..own[r], the new token included)."""
        self.rows, self.own, self.group, self.member = int(own.shape[0]), own, group, member
        self.own_window = int(own.max()) + 1
        seen = torch.arange(self.own_window, device=own.device)[None, :] <= own[:, None]
        longest = max(self.prompt_lengths)
        lengths = torch.tensor(self.prompt_lengths, device=own.device)
        prompt = torch.arange(longest, device=own.device)[None, :] < lengths[:, None]
        self.masks = (prompt[:, None, None, :], seen[:, None, None, :])
        return self.masks[1]
