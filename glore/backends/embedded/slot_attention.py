"""Decode-step attention over shared prompts: each prompt's keys are read once for all its
rows, each row's own generated keys once, and the two softmaxes are merged exactly
(the log-sum-exp merge of "cascade" attention).

Registered with `transformers` as the attention implementation `glore_slots`. A forward
pass that does not hand it a `slot_cache` (prefill, scoring, a plain `model.generate`) is
passed to PyTorch's SDPA unchanged, with SDPA's masks, so only the scheduler's decode steps
take this path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from glore.errors import ConfigError

if TYPE_CHECKING:
    from glore.backends.embedded.slots import SlotCache

NAME = "glore_slots"


def _softmax_parts(
    scores: torch.Tensor, seen: torch.Tensor, values: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unnormalised attention over one part of the keys: (output, row max, sum of exps)."""
    scores = scores.masked_fill(~seen, torch.finfo(scores.dtype).min)
    top = scores.amax(-1, keepdim=True)
    weights = torch.exp(scores - top)
    return weights @ values, top, weights.sum(-1, keepdim=True)


def slot_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    *,
    dropout: float = 0.0,
    scaling: float | None = None,
    slot_cache: SlotCache | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """`query` `[rows, heads, 1, dim]`; `key`, `value` the rows' own `[rows, kv_heads,
    window, dim]` (from the cache's `update`). Returns `[rows, 1, heads, dim]`."""
    if slot_cache is None or slot_cache.masks is None:
        return sdpa_attention_forward(  # type: ignore[no-any-return]
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    layer = slot_cache.slot_layers[module.layer_idx]
    rows, heads, _, dim = query.shape
    kv = key.shape[1]
    groups = heads // kv  # head h reads kv head h // groups, as transformers' repeat_kv
    scale = dim**-0.5 if scaling is None else scaling
    prompt_seen, own_seen = slot_cache.masks
    prompts, members, longest = prompt_seen.shape[0], slot_cache.members, prompt_seen.shape[-1]
    q = query[:, :, 0].reshape(rows, kv, groups, dim) * scale
    grouped = q.new_zeros(prompts, members, kv, groups, dim)
    grouped[slot_cache.group, slot_cache.member] = q
    grouped = grouped.permute(0, 2, 1, 3, 4).reshape(prompts, kv, members * groups, dim)
    p_keys = layer.prompt_k[:prompts, :, :longest]
    p_values = layer.prompt_v[:prompts, :, :longest]
    p_out, p_top, p_sum = _softmax_parts(grouped @ p_keys.transpose(-1, -2), prompt_seen, p_values)

    def per_row(t: torch.Tensor) -> torch.Tensor:  # [prompts, kv, members*groups, x] -> rows
        t = t.reshape(prompts, kv, members, groups, t.shape[-1])
        return t[slot_cache.group, :, slot_cache.member]  # [rows, kv, groups, x]

    p_out, p_top, p_sum = per_row(p_out), per_row(p_top), per_row(p_sum)
    o_out, o_top, o_sum = _softmax_parts(q @ key.transpose(-1, -2), own_seen, value)
    top = torch.maximum(p_top, o_top)
    p_w, o_w = torch.exp(p_top - top), torch.exp(o_top - top)
    out = (p_out * p_w + o_out * o_w) / (p_sum * p_w + o_sum * o_w)
    return out.reshape(rows, 1, heads, dim), None


def check_supported(config: Any) -> None:
    """Refuse a model whose attention this function does not compute: sliding windows or
    soft-capped attention logits."""
    window = getattr(config, "sliding_window", None)
    if window is not None and getattr(config, "use_sliding_window", True):
        raise ConfigError(f"the embedded generator does not serve sliding windows ({window})")
    if getattr(config, "attn_logit_softcapping", None) is not None:
        raise ConfigError("the embedded generator does not serve soft-capped attention logits")


def use_slot_attention(model: Any) -> None:
    """Make `model` run its attention through `glore_slots` (registered once)."""
    check_supported(model.config)
    if NAME not in AttentionInterface._global_mapping:
        AttentionInterface.register(NAME, slot_attention)
        AttentionMaskInterface.register(NAME, sdpa_mask)
    model.config._attn_implementation = NAME
