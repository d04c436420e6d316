"""How far each row of the fast-generation goal table could go on this machine: the row's
value if one named cost were zero, from measurements of the same `glore bench engine` run.

A goal missed run after run needs its reason measured before more knobs are turned. Each
ceiling keeps what cannot be cut on this machine and drops the rest:

- `decode_64`: a decode step at 64 rows were only its matmuls (the model's projections at
  their shapes, timed alone at the rate this CPU gives them) and its attention over the
  decode part's mean context (SDPA, timed alone): norms, rotary, sampling and bookkeeping
  free. `matmul_only` drops the attention too.
- `rollouts`: every rollout token decoded at that 64-row rate, prefill free.
- `concurrency`: the concurrent run's decoding free, its scoring as long as the lane spent
  in scorer batches (`LaneTime.jobs_s`), against the one-at-a-time run as measured.
- `always` (a floor, the goal being an upper bound): the refinements' tokens generated at
  the draft-only run's own rate and scoring free, so the ratio of tokens per question.
- `training`: a training step were only its forward and backward matmuls and causal
  attention, on the grouped setting's padded batches, against today's random batches as
  measured (`matmul_only` without the attention).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.nn import functional as nnf

from glore.backends.embedded.lane import LANE

Shape = tuple[int, int]
"""A projection's weight: (out features, in features)."""


def decode_shapes(config: Any) -> tuple[list[Shape], list[Shape]]:
    """A Llama-layout model's projections as the lean decode step runs them (fused q/k/v
    and gate/up): those of each layer, and the output head once."""
    heads = int(config.num_attention_heads)
    kv = int(getattr(config, "num_key_value_heads", None) or heads)
    hidden = int(config.hidden_size)
    head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
    inter = int(config.intermediate_size)
    layer = [
        ((heads + 2 * kv) * head_dim, hidden),
        (hidden, heads * head_dim),
        (2 * inter, hidden),
        (hidden, inter),
    ]
    return layer, [(int(config.vocab_size), hidden)]


def train_shapes(config: Any) -> list[Shape]:
    """Each layer's projections as the Hugging Face forward runs them (one per weight); a
    one-logit classifier's head is left out."""
    heads = int(config.num_attention_heads)
    kv = int(getattr(config, "num_key_value_heads", None) or heads)
    hidden = int(config.hidden_size)
    head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
    inter = int(config.intermediate_size)
    return [
        (heads * head_dim, hidden),
        (kv * head_dim, hidden),
        (kv * head_dim, hidden),
        (hidden, heads * head_dim),
        (inter, hidden),
        (inter, hidden),
        (hidden, inter),
    ]


def _best_seconds(run: Callable[[], object], repeats: int) -> float:
    run()  # first calls pay one-off costs (kernel choice, allocations)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_seconds(
    shapes: Sequence[Shape], rows: int, *, backward: bool = False, repeats: int = 5
) -> float:
    """Seconds for `x @ W.T` over every shape at `rows` rows (with `backward`, also the
    gradients of input and weight), float32, on the compute lane: the fastest of
    `repeats` runs of all of them in turn."""
    operands = [(torch.randn(rows, i), torch.randn(o, i), torch.randn(rows, o)) for o, i in shapes]

    def run() -> None:
        for x, w, g in operands:
            nnf.linear(x, w)
            if backward:
                g @ w  # d loss / d x
                g.t() @ x  # d loss / d w

    return LANE.call(lambda: _best_seconds(run, repeats))


def _heads(config: Any) -> tuple[int, int, int]:
    heads = int(config.num_attention_heads)
    kv = int(getattr(config, "num_key_value_heads", None) or heads)
    return heads, kv, int(getattr(config, "head_dim", None) or config.hidden_size // heads)


def attention_seconds(
    config: Any, rows: int, length: int, *, decode: bool, repeats: int = 5
) -> float:
    """One layer's SDPA, float32, on the lane. `decode`: one new query per row over
    `length` cached positions (the step's boolean mask, all kept); else a causal pass over
    `length` positions per row, forward and backward."""
    heads, kv, dim = _heads(config)
    keys, values = torch.randn(rows, kv, length, dim), torch.randn(rows, kv, length, dim)
    gqa = kv != heads
    if decode:
        query, mask = (
            torch.randn(rows, heads, 1, dim),
            torch.ones(rows, 1, 1, length, dtype=torch.bool),
        )

        def run() -> None:
            nnf.scaled_dot_product_attention(query, keys, values, attn_mask=mask, enable_gqa=gqa)

    else:
        query = torch.randn(rows, heads, length, dim, requires_grad=True)
        keys.requires_grad_(True)
        values.requires_grad_(True)

        def run() -> None:
            out = nnf.scaled_dot_product_attention(
                query, keys, values, is_causal=True, enable_gqa=gqa
            )
            out.sum().backward()  # type: ignore[no-untyped-call]

    return LANE.call(lambda: _best_seconds(run, repeats))


def decode_step_seconds(config: Any, rows: int = 64) -> float:
    """A decode step of `rows` rows, if it were only its matmuls."""
    layer, head = decode_shapes(config)
    return int(config.num_hidden_layers) * matmul_seconds(layer, rows) + matmul_seconds(head, rows)


def _row(value: float, assumes: str, **measured: float) -> dict[str, Any]:
    return {"value": round(value, 4), "assumes": assumes, **measured}


def _decode_64(report: dict[str, Any], config: Any) -> tuple[dict[str, Any], float] | None:
    """The row and the ceiling's step seconds (matmuls and attention at 64 rows)."""
    rows = [r for r in report.get("decode", []) if r.get("batch") == 64]
    if not rows or "context" not in rows[0]:
        return None
    served = rows[0]["scheduler"]
    # The row's FLOPs per token, as the decode part counted them (weights and attention).
    share_per_token = served["fraction_of_matmul_peak"] / served["tokens_per_s"]
    matmuls = decode_step_seconds(config)
    attention = attention_seconds(config, 64, rows[0]["context"], decode=True)
    step_s = matmuls + int(config.num_hidden_layers) * attention
    row = _row(
        64 / step_s * share_per_token,
        "a 64-row decode step were only its matmuls and attention",
        step_ms=round(1000 * step_s, 3),
        attention_ms=round(1000 * (step_s - matmuls), 3),
        measured_step_ms=round(1000 * 64 / served["tokens_per_s"], 3),
        matmul_only=round(64 / matmuls * share_per_token, 4),
    )
    return row, step_s


def _rollouts(report: dict[str, Any], step_s: float) -> dict[str, Any] | None:
    part = report.get("rollouts", {})
    tokens = part.get("continuous", {}).get("decode_tokens")
    if not tokens or "baseline_rollouts_per_s" not in part:
        return None
    rate = part["rollouts"] / (tokens * step_s / 64)
    return _row(
        rate / part["baseline_rollouts_per_s"],
        "every rollout token decoded at the decode ceiling's 64-row rate, prefill free",
        rollouts_per_s=round(rate, 1),
        decode_tokens=tokens,
    )


def _concurrency(report: dict[str, Any]) -> dict[str, Any] | None:
    part = report.get("concurrency", {})
    # Lane jobs are scoring only where generation steps as a driver: CTranslate2's greedy
    # batches run as jobs too.
    torch_only = report.get("machine", {}).get("greedy_engine", "torch") == "torch"
    if "lane_jobs_s" not in part or not torch_only:
        return None
    serial = part["questions"] / part["sequential_qps"]
    return _row(
        serial / part["lane_jobs_s"],
        "the concurrent run's decoding free; its scoring as the lane ran it",
        serial_s=round(serial, 3),
        concurrent_scoring_s=part["lane_jobs_s"],
    )


def _always(report: dict[str, Any]) -> dict[str, Any] | None:
    modes = report.get("modes", {})
    if "always" not in modes or "draft_only" not in modes:
        return None
    ratio = modes["always"]["tokens_per_question"] / modes["draft_only"]["tokens_per_question"]
    return _row(ratio, "refinement tokens at the draft's own rate, scoring free (a floor)")


def _training(report: dict[str, Any], config: Any) -> dict[str, Any] | None:
    part = report.get("training", {})
    grouped, random = (part.get("settings", {}).get(k, {}) for k in ("grouped", "random"))
    steps = part.get("setup", {}).get("steps")
    if "padded_tokens" not in grouped or "tokens_per_s" not in random or not steps:
        return None
    rows, batch = round(grouped["padded_tokens"] / steps), part["setup"]["batch_size"]
    layers = int(config.num_hidden_layers)
    matmuls = layers * matmul_seconds(train_shapes(config), rows, backward=True, repeats=2)
    attention = layers * attention_seconds(
        config, batch, max(1, rows // batch), decode=False, repeats=2
    )
    per_step, base = grouped["tokens"] / steps, random["tokens_per_s"]
    return _row(
        per_step / (matmuls + attention) / base,
        "a grouped training step were only its forward and backward matmuls and attention",
        tokens_per_s=round(per_step / (matmuls + attention), 1),
        rows_per_step=rows,
        matmul_only=round(per_step / matmuls / base, 4),
    )


def ceilings(report: dict[str, Any], config: Any) -> dict[str, Any]:
    """Each goal row's ceiling (`value`, what it `assumes`, and the measurements behind
    it), for the parts `report` has; `config` is the student's."""
    decode = _decode_64(report, config)
    found = {
        "decode_64": None if decode is None else decode[0],
        "rollouts": None if decode is None else _rollouts(report, decode[1]),
        "concurrency": _concurrency(report),
        "always": _always(report),
        "training": _training(report, config),
    }
    return {name: row for name, row in found.items() if row is not None}
