"""Supervised fine-tuning of a causal LM on (prompt, target) pairs, loss on the target only.

The student, expert iteration and both refiners use it. Prompt and target are tokenized
apart, exactly as generation sees them: the prompt alone, then the model's continuation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

IGNORE = -100


def sft_example(tokenizer: Any, prompt: str, target: str, max_len: int) -> dict[str, Any] | None:
    """Token ids and labels for one pair (None when it does not fit `max_len`)."""
    prompt_ids = tokenizer(prompt)["input_ids"]
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = prompt_ids + target_ids
    if len(ids) > max_len:
        return None
    return {"input_ids": ids, "labels": [IGNORE] * len(prompt_ids) + target_ids}


def sft_examples(
    tokenizer: Any, pairs: Sequence[tuple[str, str]], max_len: int
) -> tuple[list[dict[str, Any]], int]:
    """Examples for every pair that fits, and how many were dropped for length."""
    examples = [sft_example(tokenizer, p, t, max_len) for p, t in pairs]
    kept = [e for e in examples if e is not None]
    return kept, len(examples) - len(kept)


class PadCollator:
    """Right-pads `input_ids` with pad and every `label_key` with -100 (or a float -100)."""

    def __init__(self, pad_id: int, label_dtype: torch.dtype = torch.long) -> None:
        self.pad_id = pad_id
        self.label_dtype = label_dtype

    def length(self, example: dict[str, Any]) -> int:
        """Positions `example` takes in a batch (what length-grouped batches sort by)."""
        return len(example["input_ids"])

    def __call__(self, batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(b["input_ids"]) for b in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=self.label_dtype)
        for i, b in enumerate(batch):
            n = len(b["input_ids"])
            ids[i, :n] = torch.tensor(b["input_ids"])
            mask[i, :n] = 1
            labels[i, :n] = torch.tensor(b["labels"], dtype=self.label_dtype)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}
