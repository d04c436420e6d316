"""A verifier made of a causal LM's likelihood: the `likelihood` ORM and SORM kind.

A solution (or each step prefix of it) is read as numbers under the LM (the head's choice
of `FEATURES`: the mean and the minimum log-probability of its tokens so far, their count,
the last step's own mean and minimum, ...). A logistic head turns them into a probability:
fitted to the student's samples' outcome labels, that the final answer is right (an ORM);
fitted to the step prefixes' rollout labels, that the prefix can still reach it (a SORM;
`training.stages.likelihood`). Why this and not a classifier head: at this project's scale
a fine-tuned classifier stayed at chance within a question, while the same base's
likelihood ranks right above wrong (docs/results/ablations.md, E10-E14).

The head and its features are `glore.backends.likelihood_head`'s; a folder with its
`HEAD_FILE` is read as this scorer (`glore.backends.embedded.scorers.scorer_class`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import torch

from glore.backends.embedded.scorer import EmbeddedScorer, _Row
from glore.backends.likelihood_head import (
    FEATURES,
    HEAD_FILE,
    Features,
    LikelihoodHead,
    prefix_features,
    step_features,
)
from glore.errors import ConfigError

__all__ = ["FEATURES", "HEAD_FILE", "LikelihoodHead", "LikelihoodScorer", "prefix_features"]


class LikelihoodScorer(EmbeddedScorer):
    """A `StepScorer` over a causal LM and a `LikelihoodHead`: at each step end, the head's
    probability of the solution so far. It shares the classifier scorer's batching and
    prefix cache, caching each token's log-probability instead of a logit."""

    auto_class = "AutoModelForCausalLM"
    shift = 1

    def __init__(
        self, model: Any, tokenizer: Any, *, head: LikelihoodHead | None, **options: Any
    ) -> None:
        """`head` None: a scorer that only reads features (to fit a head on them)."""
        super().__init__(model, tokenizer, **options)
        self.head = head

    def own_options(self) -> dict[str, Any]:
        return {"head": self.head}

    @classmethod
    def from_pretrained(cls, path: str | Path, **options: Any) -> Self:
        return super().from_pretrained(path, head=LikelihoodHead.load(path), **options)

    def values(self, logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """At pass position j, the log-probability of the token at j + 1."""
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        return logp.gather(-1, ids[:, 1:].to(logp.device).unsqueeze(-1))[..., 0].cpu()

    def features(self, scored: _Row, row: _Row) -> list[Features]:
        assert scored.probs is not None
        return step_features(scored.probs.tolist(), row.bounds[0], row.ends, row.kinds)

    def readout(self, scored: _Row, row: _Row) -> list[float]:
        if self.head is None:
            raise ConfigError("this likelihood scorer has no head yet: it reads features only")
        head = self.head
        return [head.probability(x) for x in self.features(scored, row)]

    def features_sync(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[Features]]:
        """Each item's features at each step end: what the head reads (and is fitted on)."""
        return [self.features(scored, row) for scored, row in self.scored(items)]
