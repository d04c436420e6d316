"""The pipeline's settings: when to refine, where the first error is, limits on input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from glore.errors import InvalidInputError

Mode = Literal["always", "gated"]
Where = Literal["sorm", "checked"]
Rerank = Literal["orm", "checked"]
WHERES: tuple[Where, ...] = ("sorm", "checked")
RERANKS: tuple[Rerank, ...] = ("orm", "checked")


@dataclass(frozen=True)
class EngineConfig:
    """Each field: default, then bound."""

    mode: Mode = "always"
    """`always` refines every draft then reranks (the paper's main setting); `gated` returns
    the draft when the ORM trusts it (always)."""
    tau_when: float = 0.5
    """`gated`: the draft is kept when its ORM score is at least this (0.5; [0, 1])."""
    tau_where: float = 0.5
    """The first step whose SORM value falls below this is the first error (0.5; [0, 1])."""
    rerank_margin: float | None = None
    """A refinement replaces the draft only when its ORM score beats the draft's by more
    than this (None: the store's margin, chosen on validation by `glore calibrate` and
    kept in its manifest; 0 when it has none. 0 is the paper's argmax; [0, 1])."""
    rerank_floor: float | None = None
    """A refinement replaces the draft only when its ORM score is also at least this (None:
    the store's floor, chosen on validation by `glore calibrate` and kept in its manifest;
    0 when it has none, the paper's argmax; [0, 1])."""
    where: Where = "sorm"
    """`sorm` (the paper): the first error is the SORM's. `checked`: the earlier of the
    SORM's and the first step whose arithmetic an exact check finds wrong."""
    rerank: Rerank = "orm"
    """`orm` (the paper): the ORM reranks every candidate. `checked`: candidates with a
    step whose arithmetic is wrong lose to those without; the ORM ranks within each."""
    abstain_below: float | None = None
    """The result says `abstain` when the ORM scores the chosen answer below this: the
    models are unsure, and a tutor should not present the answer as confident (None: the
    store's threshold, chosen on validation by `glore calibrate --abstain` and kept in its
    manifest; 0 when it has none, never abstaining; [0, 1])."""
    max_tokens: int = 256
    """New tokens per generated solution (256; 1..4096)."""
    max_question_chars: int = 2000
    """Longest question accepted (2000; 1..100000)."""
    max_solution_steps: int = 64
    """Most steps in a solution given to critique (64; 1..1000)."""
    global_temperature: float = 0.0
    """Temperature of the global refiner's one solution (0.0, greedy, the paper's; [0, 2]).
    Above 0 the draw is fixed by `seed` and the prompt."""
    local_temperature: float = 0.0
    """Temperature of the local refiner's continuation after the kept steps (0.0, greedy,
    the paper's; [0, 2]). Above 0 the draw is fixed by `seed` and the prompt."""
    best_of: int = 3
    """Samples for the best-of-n strategy (3; 1..64)."""
    temperature: float = 1.0
    """Temperature of best-of-n samples (1.0; (0, 2])."""
    rounds: int = 2
    """Most refinement rounds for the multi-round strategy (2; 1..8)."""
    seed: int = 0
    """Seed for sampled strategies (0)."""
    overlap: bool = True
    """Run stages that do not wait on each other at the same time (True): in `always` mode
    the global refinement of each draft starts while the draft is being scored (it needs
    no score: the draft is the only candidate), and each refiner's candidates are scored as
    soon as that refiner finishes. False runs them one after another (the bench's
    baseline). The candidates and choice are the same either way."""

    def __post_init__(self) -> None:
        checks = [
            (self.mode in ("always", "gated"), "mode must be 'always' or 'gated'"),
            (0.0 <= self.tau_when <= 1.0, "tau_when must be in [0, 1]"),
            (0.0 <= self.tau_where <= 1.0, "tau_where must be in [0, 1]"),
            (self.where in WHERES, f"where must be one of {', '.join(WHERES)}"),
            (self.rerank in RERANKS, f"rerank must be one of {', '.join(RERANKS)}"),
            (
                self.rerank_margin is None or 0.0 <= self.rerank_margin <= 1.0,
                "rerank_margin must be in [0, 1] (or None for the store's)",
            ),
            (
                self.rerank_floor is None or 0.0 <= self.rerank_floor <= 1.0,
                "rerank_floor must be in [0, 1] (or None for the store's)",
            ),
            (
                self.abstain_below is None or 0.0 <= self.abstain_below <= 1.0,
                "abstain_below must be in [0, 1] (or None for the store's)",
            ),
            (1 <= self.max_tokens <= 4096, "max_tokens must be in 1..4096"),
            (1 <= self.max_question_chars <= 100_000, "max_question_chars must be in 1..100000"),
            (1 <= self.max_solution_steps <= 1000, "max_solution_steps must be in 1..1000"),
            (0.0 <= self.global_temperature <= 2.0, "global_temperature must be in [0, 2]"),
            (0.0 <= self.local_temperature <= 2.0, "local_temperature must be in [0, 2]"),
            (1 <= self.best_of <= 64, "best_of must be in 1..64"),
            (0.0 < self.temperature <= 2.0, "temperature must be in (0, 2]"),
            (1 <= self.rounds <= 8, "rounds must be in 1..8"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidInputError(f"{message}; got {self!r}")
