"""Which embedded scorer a model folder holds: a causal LM with a likelihood head
(`HEAD_FILE`) is a `LikelihoodScorer`, anything else a token classifier's `EmbeddedScorer`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glore.backends.embedded.likelihood import HEAD_FILE, LikelihoodScorer
from glore.backends.embedded.scorer import EmbeddedScorer


def scorer_class(path: str | Path) -> type[EmbeddedScorer]:
    return LikelihoodScorer if (Path(path) / HEAD_FILE).is_file() else EmbeddedScorer


def open_scorer(path: str | Path, **options: Any) -> EmbeddedScorer:
    """The scorer in `path`, built with `options` (see `LocalModel.from_pretrained`)."""
    return scorer_class(path).from_pretrained(path, **options)
