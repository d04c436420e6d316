"""Which candidate wins: the rules of `glore.engine.rules` applied to candidates.

Anything with a name, an ORM score and an arithmetic verdict can be chosen among (the
engine's `Candidate`s, and the calibration's cached ones), so the engine and `glore
calibrate` decide by the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from glore.engine.rules import ARGMAX, Choice, Guard, checked_pool, rerank


class Ranked(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def orm_score(self) -> float | None: ...

    @property
    def arithmetic_ok(self) -> bool: ...


R = TypeVar("R", bound=Ranked)


def orm_choice(cands: Sequence[Ranked], guard: Guard) -> Choice:
    """The paper's rerank over candidates: the ORM's highest score, the draft (first) kept
    where `guard` says (`glore.engine.rules.rerank`)."""
    return rerank([c.name for c in cands], [c.orm_score or 0.0 for c in cands], guard)


def choose(
    cands: Sequence[R],
    guard: Guard,
    rerank_by: str,
    chooser: Callable[[Sequence[R], Guard], Choice] = orm_choice,
) -> Choice:
    """`chooser` over the candidates; with `rerank_by` `checked`, only over those whose
    arithmetic holds (`glore.engine.rules.checked_pool`). The guard protects the draft
    only while the draft is among them."""
    if rerank_by != "checked":
        return chooser(cands, guard)
    pool = checked_pool([c.arithmetic_ok for c in cands])
    if len(pool) == len(cands):
        return chooser(cands, guard)
    inner = chooser([cands[i] for i in pool], guard if pool[0] == 0 else ARGMAX)
    failed = ", ".join(c.name for c in cands if not c.arithmetic_ok)
    return Choice(pool[inner.index], f"{failed} fail the arithmetic check; {inner.reason}")


def best(pool: Sequence[R], guard: Guard = ARGMAX, rerank_by: str = "orm") -> R:
    """The candidate `choose` picks by the ORM (with `rerank_by`'s check)."""
    return pool[choose(pool, guard, rerank_by).index]


__all__ = ["Ranked", "best", "choose", "orm_choice"]
