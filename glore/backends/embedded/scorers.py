"""Which embedded scorer a model folder holds: a causal LM with a likelihood head
(`HEAD_FILE`) is a `LikelihoodScorer`, anything else a token classifier's `EmbeddedScorer`."""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Any

from glore.backends.embedded.likelihood import HEAD_FILE, LikelihoodHead, LikelihoodScorer
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


def sibling_scorer(orm: EmbeddedScorer, orm_dir: str | Path, sorm_dir: str | Path) -> Any:
    """The SORM in `sorm_dir` as a sibling of `orm` (loaded from `orm_dir`) where both are
    likelihood verifiers on one base: one model in memory, each solution's pass run once
    for both heads (`EmbeddedScorer.sibling`). None where they are not."""
    if not isinstance(orm, LikelihoodScorer) or scorer_class(sorm_dir) is not LikelihoodScorer:
        return None
    if not same_model(orm_dir, sorm_dir):
        return None
    return orm.sibling(head=LikelihoodHead.load(sorm_dir))
