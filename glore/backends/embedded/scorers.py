"""Which embedded scorer a model folder holds: a causal LM with a likelihood head
(`HEAD_FILE`) is a `LikelihoodScorer`, anything else a token classifier's `EmbeddedScorer`."""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Any

from glore.backends.embedded.likelihood import HEAD_FILE, LikelihoodScorer
from glore.backends.embedded.scorer import EmbeddedScorer


def scorer_class(path: str | Path) -> type[EmbeddedScorer]:
    return LikelihoodScorer if (Path(path) / HEAD_FILE).is_file() else EmbeddedScorer


def open_scorer(path: str | Path, **options: Any) -> EmbeddedScorer:
    """The scorer in `path`, built with `options` (see `LocalModel.from_pretrained`)."""
    return scorer_class(path).from_pretrained(path, **options)


def same_model(a: str | Path, b: str | Path) -> bool:
    """Whether two folders hold one model: the same files byte for byte, a likelihood head
    aside (a likelihood ORM and SORM exported from one base differ only in their heads)."""
    first, second = Path(a), Path(b)

    def files(folder: Path) -> list[str]:
        return sorted(f.name for f in folder.iterdir() if f.is_file() and f.name != HEAD_FILE)

    names = files(first)
    if not names or names != files(second):
        return False
    return all(filecmp.cmp(first / n, second / n, shallow=False) for n in names)
