"""A lean batched decode loop over any Hugging Face causal LM with a KV cache.

`model.generate` spends most of a tiny model's step outside the matmuls (logits
processors, stopping criteria, bookkeeping). This loop does only what GLoRe needs:
greedy or temperature/top-p sampling from a seeded `torch.Generator`, stop at EOS, and it
stops early once every sequence has finished. `glore bench engine` compares the two.
"""

from __future__ import annotations

from typing import Any

import torch

_COMPACT_EVERY = 8
"""Steps between drops of finished rows (each drop copies the KV cache)."""


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
    from transformers import DynamicCache

    device = input_ids.device
    gen = None
    if temperature > 0.0:
        gen = torch.Generator(device=device)
        gen.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31, (1,))))
    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=positions,
        cache=cache,
        use_cache=True,
    )
    batch = input_ids.shape[0]
    out_tokens = torch.full((batch, max_new_tokens), pad_id, dtype=torch.long, device=device)
    rows = torch.arange(batch, device=device)  # which original row each live row is
    pos = positions[:, -1:]
    mask = attention_mask
    logits = out.logits[:, -1, :]
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


def _after_eos_to_pad(tokens: torch.Tensor, eos_id: int, pad_id: int) -> torch.Tensor:
    """Everything after a row's first EOS becomes pad (rows that finished between two
    compactions kept decoding until they were dropped)."""
    seen = (tokens == eos_id).long().cumsum(dim=1)
    after = (seen - (tokens == eos_id).long()) > 0
    return tokens.masked_fill(after, pad_id)
