"""Per-row sampling whose random draws belong to the row, not to the batch.

Each row has a 63-bit key; its draw at step t is a counter-based hash of (key, t)
(splitmix64), turned into a token by inverse-CDF over the row's (top-p cut) distribution.
So the numbers a row draws do not depend on which rows share its batch, on their order,
or on how many steps ran before it joined; one vectorised hash serves the whole batch
(a `torch.Generator` per row would cost one call per row per step).
"""

from __future__ import annotations

import hashlib

import torch

_MASK64 = (1 << 64) - 1


def _signed(value: int) -> int:
    """A 64-bit pattern as the int64 torch stores."""
    value &= _MASK64
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_MIX1 = _signed(0xBF58476D1CE4E5B9)
_MIX2 = _signed(0x94D049BB133111EB)


def row_key(seed: int, prompt: str, sample: int) -> int:
    """The key of sample `sample` of `prompt` under `seed`: a function of the three alone,
    so a prompt's samples do not depend on its place in a call."""
    digest = hashlib.blake2b(f"{seed}\x00{sample}\x00{prompt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _shr(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's `>>` is arithmetic)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def uniforms(keys: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """One float32 in [0, 1) per row: splitmix64 of `key + (step + 1) * golden` (int64
    arithmetic wraps, as the hash wants)."""
    x = keys + (steps + 1) * _GOLDEN
    x = (x ^ _shr(x, 30)) * _MIX1
    x = (x ^ _shr(x, 27)) * _MIX2
    x = x ^ _shr(x, 31)
    return _shr(x, 40).float() / float(1 << 24)  # the top 24 bits: exact in float32


def pick(
    logits: torch.Tensor, temperature: torch.Tensor, top_p: torch.Tensor, u: torch.Tensor
) -> torch.Tensor:
    """A token per row of `logits` [rows, vocab]: argmax where `temperature` is 0, else the
    token whose CDF interval holds `u` in the temperature-scaled distribution. Rows with
    `top_p` < 1 take the CDF over tokens sorted by probability, cut to the smallest head
    whose mass reaches `top_p` (the first token always stays); the others over the
    vocabulary's order. Which rule a row gets is its own: never its batch-mates'."""
    greedy = logits.argmax(dim=-1)
    sampled = temperature > 0
    if not bool(sampled.any()):
        return greedy
    scale = torch.where(sampled, temperature, torch.ones_like(temperature))
    probs = torch.softmax(logits.float() / scale[:, None], dim=-1)
    token = _inverse_cdf(probs, u)
    cut = sampled & (top_p < 1.0)
    if bool(cut.any()):
        ranked, order = probs.sort(dim=-1, descending=True, stable=True)
        drop = ranked.cumsum(dim=-1) - ranked > top_p[:, None]
        head = order.gather(-1, _inverse_cdf(ranked.masked_fill(drop, 0.0), u)[:, None])
        token = torch.where(cut, head.squeeze(-1), token)
    return torch.where(sampled, token, greedy)


def _inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The index whose CDF interval holds `u` x the row's mass; never a zero-mass index
    (a target at the float top of the CDF takes the last index with mass)."""
    cdf = probs.cumsum(dim=-1)
    target = (u * cdf[:, -1]).contiguous()[:, None]
    index = torch.searchsorted(cdf, target, right=True).squeeze(-1)
    last = (probs > 0).long().cumsum(dim=-1).argmax(dim=-1)
    return torch.minimum(index, last)
