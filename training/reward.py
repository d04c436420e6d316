"""ORM and SORM training data: a label at each step end, binary cross-entropy on one logit.

Positions come from `glore.formats.step_end_tokens`, the function serving uses, so a model
is queried exactly where it was trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.nn.functional import binary_cross_entropy_with_logits

from glore.formats import scorer_prompt, step_end_tokens
from training.records import StepLabels
from training.sft import IGNORE


def reward_example(tokenizer: Any, item: StepLabels, max_len: int) -> dict[str, Any] | None:
    """Ids with float labels at step ends (-100 elsewhere and where balancing masked one)."""
    if all(label is None for label in item.labels):
        return None
    enc = step_end_tokens(tokenizer, scorer_prompt(item.question, item.steps))
    if len(enc.input_ids) > max_len:
        return None
    labels = [float(IGNORE)] * len(enc.input_ids)
    for pos, label in zip(enc.step_ends, item.labels, strict=True):
        if label is not None:
            labels[pos] = float(label)
    return {"input_ids": enc.input_ids, "labels": labels}


def reward_examples(
    tokenizer: Any, items: Sequence[StepLabels], max_len: int
) -> list[dict[str, Any]]:
    return [e for e in (reward_example(tokenizer, it, max_len) for it in items) if e is not None]


def step_bce_loss(
    outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None
) -> torch.Tensor:
    """Mean binary cross-entropy over labelled positions (`compute_loss_func` for Trainer)."""
    logits = outputs.logits.squeeze(-1).float()
    keep = labels != IGNORE
    return binary_cross_entropy_with_logits(logits[keep], labels[keep].float())
