"""ORM and SORM training data: a label at each step end, binary cross-entropy on one logit.

Positions come from `glore.formats.step_end_tokens`, the function serving uses, so a model
is queried exactly where it was trained.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.nn.functional import binary_cross_entropy_with_logits, logsigmoid

from glore.formats import scorer_prompt, step_end_tokens
from glore.labels.records import StepLabels
from training.sft import IGNORE, PadCollator


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


def pair_examples(
    tokenizer: Any, items: Sequence[StepLabels], per_question: int, max_len: int, seed: int
) -> list[dict[str, Any]]:
    """(right, wrong) pairs of one question's samples, at most `per_question` of them, drawn
    without repeats. A sample is right when its last step's label is 1 (the ORM's rule)."""
    by_q: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for it in items:
        ex = reward_example(tokenizer, it, max_len)
        if ex is not None and it.labels and it.labels[-1] is not None:
            right, wrong = by_q.setdefault(it.qid, ([], []))
            (right if it.labels[-1] == 1 else wrong).append(ex)
    rng = random.Random(seed)
    pairs = []
    for qid in sorted(by_q):
        right, wrong = by_q[qid]
        every = [(a, b) for a in range(len(right)) for b in range(len(wrong))]
        for a, b in rng.sample(every, min(per_question, len(every))):
            pairs.append({"pair": [right[a], wrong[b]]})
    return pairs


class PairCollator(PadCollator):
    """Pairs as rows 2k (right) and 2k+1 (wrong) of one padded batch."""

    def length(self, example: dict[str, Any]) -> int:
        return max(len(row["input_ids"]) for row in example["pair"])

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return super().__call__([row for item in batch for row in item["pair"]])


def final_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each row's score at its last labelled position (the answer step)."""
    keep = labels != IGNORE
    positions = torch.arange(labels.shape[1], device=labels.device).expand_as(labels)
    last = torch.where(keep, positions, -1).max(dim=1).values
    return logits[torch.arange(labels.shape[0], device=labels.device), last]


def pairwise_loss(weight: float) -> Callable[..., torch.Tensor]:
    """Step BCE plus `weight` x Bradley-Terry, -log sigmoid(right - wrong), over the pairs of
    a `PairCollator` batch (`compute_loss_func` for Trainer)."""

    def loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        logits = outputs.logits.squeeze(-1).float()
        final = final_logits(logits, labels)
        bt = -logsigmoid(final[0::2] - final[1::2]).mean()
        return step_bce_loss(outputs, labels) + weight * bt

    return loss
