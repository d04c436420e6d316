"""One decode step of a Llama-layout causal LM, written out over the model's own weights.

The Hugging Face forward spends much of a small model's decode step in per-call machinery
(argument checks, mask and cache bookkeeping, output records, one module call per
projection): on the tiny default at batch 1 this step runs about 1.5x as many tokens/s, at
batch 64 about 1.15-1.25x, where reading the KV cache in attention is most of the step
(`glore bench engine`, `decode[].lean_step_speedup`). This step computes the
same function from the same parameter tensors with only the kernels the math needs: the
q/k/v and gate/up projections as one matmul each, rotary embedding of queries and keys in
one pass, keys and values written straight into the scheduler's blocks
(`blocks.BlockCache`), attention one batched matmul per block. It serves any checkpoint
whose layers are Llama's (Llama, Mistral without a sliding window, Qwen2's biased
projections); `unsupported` says why another cannot, and the
scheduler then steps through the model's own forward, which stays the reference
(`tests/glore/backends/embedded/test_llama_step.py` holds the two within 1e-5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.nn import functional as nnf

from glore.backends.embedded.blocks import BlockCache

_STATIC_ROPE = ("default", "linear", "llama3", "yarn")
"""Rotary types whose angles depend only on the position (asked per step by position); the dynamic
kinds rescale with the sequence length and keep to the model's forward."""


MODEL_TYPES = ("llama", "mistral", "qwen2")
"""Model types whose decoder layers are Llama's: pre-norm RMSNorm blocks of rotary
attention and a SiLU-gated MLP (Qwen2 adds q/k/v biases)."""


def unsupported(model: Any) -> str | None:
    """Why `LlamaStep` cannot run `model`, or None when it can."""
    cfg = model.config
    kind = getattr(cfg, "model_type", None)
    if kind not in MODEL_TYPES:
        return f"model type {kind!r} (the step runs {', '.join(MODEL_TYPES)})"
    if getattr(cfg, "hidden_act", None) != "silu":
        return f"activation {getattr(cfg, 'hidden_act', None)!r} (the step has silu)"
    if getattr(cfg, "sliding_window", None) and getattr(cfg, "use_sliding_window", True):
        return "a sliding attention window"
    rope = (getattr(cfg, "rope_parameters", None) or {}).get("rope_type", "default")
    if rope not in _STATIC_ROPE:
        return f"rotary type {rope!r} (the step has {', '.join(_STATIC_ROPE)})"
    return None


def _cat_bias(*linears: Any) -> torch.Tensor | None:
    if all(lin.bias is None for lin in linears):
        return None
    return torch.cat(
        [
            lin.bias if lin.bias is not None else lin.weight.new_zeros(lin.out_features)
            for lin in linears
        ]
    )


@dataclass(frozen=True)
class _Layer:
    norm1: torch.Tensor
    qkv: torch.Tensor
    qkv_bias: torch.Tensor | None
    out: torch.Tensor
    out_bias: torch.Tensor | None
    norm2: torch.Tensor
    gate_up: torch.Tensor
    gate_up_bias: torch.Tensor | None
    down: torch.Tensor
    down_bias: torch.Tensor | None


class LlamaStep:
    """`step(tokens, lengths, cache, mask)` -> next-token logits `[rows, vocab]`, for rows
    whose positions 0..lengths-1 are in `cache` and whose new token sits at `lengths`.

    The fused q/k/v and gate/up weights are copies made once (the model's own tensors stay as
    they are, so its forward, the prefill and the reference, is untouched): for a large
    model on a small machine that is most of a layer's weights again."""

    def __init__(self, model: Any) -> None:
        reason = unsupported(model)
        if reason is not None:
            raise ValueError(f"LlamaStep cannot run this model: {reason}")
        cfg, core = model.config, model.model
        self.heads = int(cfg.num_attention_heads)
        self.kv_heads = int(getattr(cfg, "num_key_value_heads", None) or self.heads)
        self.head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads)
        self.eps = float(cfg.rms_norm_eps)
        self.scale = self.head_dim**-0.5
        self.embed = core.embed_tokens.weight
        self.norm = core.norm.weight
        self.head = model.lm_head.weight
        self.head_bias = model.lm_head.bias
        self.rotary = core.rotary_emb
        """The model's own rotary module: it fills `_cos`/`_sin`, a table of the positions
        decoded so far, doubled when a row goes past it (a table of every position up front
        would cost a long-context model hundreds of MB)."""
        self._cos = self._sin = torch.empty(0)
        with torch.no_grad():
            self.layers = [self._layer(layer) for layer in core.layers]

    @staticmethod
    def _layer(layer: Any) -> _Layer:
        att, mlp = layer.self_attn, layer.mlp
        return _Layer(
            norm1=layer.input_layernorm.weight,
            qkv=torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight]),
            qkv_bias=_cat_bias(att.q_proj, att.k_proj, att.v_proj),
            out=att.o_proj.weight,
            out_bias=att.o_proj.bias,
            norm2=layer.post_attention_layernorm.weight,
            gate_up=torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]),
            gate_up_bias=_cat_bias(mlp.gate_proj, mlp.up_proj),
            down=mlp.down_proj.weight,
            down_bias=mlp.down_proj.bias,
        )

    def _rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # Llama's RMSNorm: in float32, then back to the input's dtype before the weight.
        h = nnf.rms_norm(x.float(), (x.shape[-1],), eps=self.eps)
        return weight * h.to(x.dtype)

    def _rotary(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin `[rows, 1, head_dim]` at each row's position, from the table."""
        need = int(lengths.max()) + 1
        if need > self._cos.shape[0]:
            size = max(need, 2 * self._cos.shape[0], 256)
            positions = torch.arange(size, device=x.device)[None]
            cos, sin = self.rotary(x[:1, None], positions)  # [1, size, head_dim]
            self._cos, self._sin = cos[0], sin[0]
        return self._cos[lengths][:, None], self._sin[lengths][:, None]

    def __call__(
        self, tokens: torch.Tensor, lengths: torch.Tensor, cache: BlockCache, bias: torch.Tensor
    ) -> torch.Tensor:
        """`tokens` and `lengths` are `[rows]`; `bias` is the cache's step bias
        (`BlockCache.step`). Attention reads the cache block by block
        (`BlockLayer.attend`): SDPA over a strided view of the positions was the larger
        part of the step at 64 rows (issue 12)."""
        rows = tokens.shape[0]
        x = nnf.embedding(tokens, self.embed)
        cos, sin = self._rotary(x, lengths)
        half, qk = self.head_dim // 2, self.heads + self.kv_heads
        for layer, slots in zip(self.layers, cache.layers, strict=True):
            h = nnf.linear(self._rms(x, layer.norm1), layer.qkv, layer.qkv_bias)
            h = h.view(rows, qk + self.kv_heads, self.head_dim)
            rot = h[:, :qk]
            turned = torch.cat((-rot[..., half:], rot[..., :half]), dim=-1)
            rot = rot * cos + turned * sin
            q, k, v = rot[:, : self.heads], rot[:, self.heads :], h[:, qk:]
            slots.write(k, v, cache.at)
            att = slots.attend(q, bias, self.scale)
            x = x + nnf.linear(att, layer.out, layer.out_bias)
            h = nnf.linear(self._rms(x, layer.norm2), layer.gate_up, layer.gate_up_bias)
            gate, up = h.chunk(2, dim=-1)
            x = x + nnf.linear(nnf.silu(gate) * up, layer.down, layer.down_bias)
        return nnf.linear(self._rms(x, self.norm), self.head, self.head_bias)
