"""What every task offers: named splits of `Problem`s."""

from __future__ import annotations

from typing import Protocol

from glore.formats import Problem


class Task(Protocol):
    """A source of problems. `name` is the CLI name; `splits` the splits `load` accepts."""

    @property
    def name(self) -> str: ...

    @property
    def splits(self) -> tuple[str, ...]: ...

    def load(self, split: str, n: int | None = None) -> list[Problem]:
        """The first `n` problems of `split` (all when None), in a fixed order."""
        ...
