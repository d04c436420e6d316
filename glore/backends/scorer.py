"""Embedded step scoring: an ORM or SORM read at every step end in one forward pass."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch

from glore.backends.local import LocalModel
from glore.errors import InvalidInputError
from glore.formats import scorer_prompt, step_end_tokens


class EmbeddedScorer(LocalModel[tuple[str, Sequence[str]], list[float]]):
    """A `StepScorer` over a local token-classification model with one logit."""

    auto_class = "AutoModelForTokenClassification"

    def run_batch(self, key: Hashable, items: list[tuple[str, Sequence[str]]]) -> list[list[float]]:
        return self.score_sync(items)

    async def score(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        return await self.batcher.submit(None, items)

    def score_sync(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
        """The blocking form of `score`."""
        encoded = []
        for question, steps in items:
            if not steps:
                raise InvalidInputError("a solution to score needs at least one step")
            encoded.append(step_end_tokens(self.tokenizer, scorer_prompt(question, steps)))
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))
        out: list[list[float]] = [[] for _ in encoded]
        for start in range(0, len(order), self.max_batch_size):
            idx = order[start : start + self.max_batch_size]
            for i, probs in zip(idx, self._batch([encoded[i] for i in idx]), strict=True):
                out[i] = probs
        return out

    @torch.no_grad()
    def _batch(self, batch: list[Any]) -> list[list[float]]:
        width = max(len(e.input_ids) for e in batch)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, e in enumerate(batch):
            ids[i, : len(e.input_ids)] = torch.tensor(e.input_ids)
            mask[i, : len(e.input_ids)] = 1
        dev = self.model.device
        logits = self.model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits
        probs = torch.sigmoid(logits.squeeze(-1).float()).cpu()
        return [probs[i, e.step_ends].tolist() for i, e in enumerate(batch)]
