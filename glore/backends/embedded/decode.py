"""A lean batched decode loop over any Hugging Face causal LM with a KV cache.

`model.generate` spends most of a tiny model's step outside the matmuls (logits
processors, stopping criteria, bookkeeping). This loop does only what GLoRe needs:
greedy or temperature/top-p sampling from a seeded `torch.Generator`, stop at EOS, and it
stops early once every sequence has finished. `glore bench engine` compares the two.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from transformers.cache_utils import DynamicLayer

_COMPACT_EVERY = 8
"""Steps between drops of finished rows (each drop copies the KV cache)."""
PREFILL_TOKENS = 1024
"""Padded prompt tokens per prefill pass (see `_prefill`)."""


class ReservedLayer(DynamicLayer):  # type: ignore[no-untyped-call]
    """A cache layer that writes each step into room reserved up front.

    `DynamicLayer` concatenates, which copies the whole cache at every step: on a CPU that
    copy was most of a decode step's time at batch 64. The keys and values handed to
    attention are views of the first `length` positions of the reserved room."""

    def __init__(self, capacity: int) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.capacity = capacity
        self.length = 0

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        new = key_states.shape[-2]
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self._room(key_states, value_states, max(self.capacity, new))
        elif self.length + new > self._k.shape[-2]:  # more than reserved: double the room
            old_k, old_v = self._k, self._v
            self._room(old_k, old_v, 2 * (self.length + new))
            self._k[..., : self.length, :] = old_k[..., : self.length, :]
            self._v[..., : self.length, :] = old_v[..., : self.length, :]
        self._k[..., self.length : self.length + new, :] = key_states
        self._v[..., self.length : self.length + new, :] = value_states
        self.length += new
        self.keys, self.values = self._k[..., : self.length, :], self._v[..., : self.length, :]
        return self.keys, self.values

    def _room(self, k: torch.Tensor, v: torch.Tensor, size: int) -> None:
        self._k = k.new_empty((*k.shape[:2], size, k.shape[-1]))
        self._v = v.new_empty((*v.shape[:2], size, v.shape[-1]))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.length:
            self._k, self._v = self._k[indices], self._v[indices]
            self.keys, self.values = self._k[..., : self.length, :], self._v[..., : self.length, :]


def _pick(
    logits: torch.Tensor, temperature: float, top_p: float, gen: torch.Generator | None
) -> torch.Tensor:
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # Keep the smallest head whose mass reaches top_p (the first token always stays).
        drop = sorted_probs.cumsum(dim=-1) - sorted_probs > top_p
        sorted_probs = sorted_probs.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=gen).squeeze(-1)


@torch.inference_mode()
def decode(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
) -> torch.Tensor:
    """New tokens for each left-padded row, `[batch, <= max_new_tokens]`; after a row's
    EOS the row holds `pad_id`."""
    device = input_ids.device
    gen = None
    if temperature > 0.0:
        gen = torch.Generator(device=device)
        gen.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31, (1,))))
    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    cache, logits = _prefill(
        model, input_ids, attention_mask, positions, input_ids.shape[1] + max_new_tokens
    )
    batch = input_ids.shape[0]
    out_tokens = torch.full((batch, max_new_tokens), pad_id, dtype=torch.long, device=device)
    rows = torch.arange(batch, device=device)  # which original row each live row is
    pos = positions[:, -1:]
    mask = attention_mask
    steps = 0
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    for step in range(max_new_tokens):
        token = _pick(logits, temperature, top_p, gen)
        out_tokens[rows, step] = token
        steps = step + 1
        finished |= token == eos_id
        if bool(finished.all()):
            break
        if step % _COMPACT_EVERY == 0 and bool(finished.any()):
            # Finished rows leave the batch, so the rest decode at the cost of their number.
            keep = (~finished).nonzero().squeeze(-1)
            cache.batch_select_indices(keep)
            rows, token, pos, mask = rows[keep], token[keep], pos[keep], mask[keep]
            finished = finished[keep]
        pos = pos + 1
        ones = torch.ones((mask.shape[0], 1), dtype=mask.dtype, device=device)
        mask = torch.cat([mask, ones], dim=1)
        out = model(
            input_ids=token[:, None],
            attention_mask=mask,
            position_ids=pos,
            cache=cache,
            use_cache=True,
        )
        logits = out.logits[:, -1, :]
    return _after_eos_to_pad(out_tokens[:, :steps], eos_id, pad_id)


def _prefill(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    positions: torch.Tensor,
    capacity: int,
) -> tuple[Any, torch.Tensor]:
    """The prompts' KV cache (room for `capacity` positions) and last logits. Prompts run
    in passes of about `PREFILL_TOKENS` padded tokens: on a CPU a few-row pass keeps its
    activations in cache, where one pass over a 64-row batch of long refiner prompts does
    not."""
    from transformers import DynamicCache

    rows = max(1, PREFILL_TOKENS // input_ids.shape[1])
    parts: list[Any] = []
    logits = []
    for s in range(0, input_ids.shape[0], rows):
        part = DynamicCache()
        out = model(
            input_ids=input_ids[s : s + rows],
            attention_mask=attention_mask[s : s + rows],
            position_ids=positions[s : s + rows],
            cache=part,
            use_cache=True,
            logits_to_keep=1,
        )
        parts.append(part)
        logits.append(out.logits[:, -1, :])
    cache = DynamicCache()
    room: Any = partial(ReservedLayer, capacity)
    cache.layer_class_to_replicate = room  # a factory of layers, called with no arguments
    for i in range(len(parts[0].layers)):  # copied into the reserved room
        keys = torch.cat([p.layers[i].keys for p in parts])
        cache.update(keys, torch.cat([p.layers[i].values for p in parts]), i)
    return cache, torch.cat(logits)


def _after_eos_to_pad(tokens: torch.Tensor, eos_id: int, pad_id: int) -> torch.Tensor:
    """Everything after a row's first EOS becomes pad (rows that finished between two
    compactions kept decoding until they were dropped)."""
    seen = (tokens == eos_id).long().cumsum(dim=1)
    after = (seen - (tokens == eos_id).long()) > 0
    return tokens.masked_fill(after, pad_id)
