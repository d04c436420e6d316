"""The two backend interfaces: a generator and a step scorer, one signature each.

Training (sampling, SORM rollouts) and serving go through these, so an embedded model and
a remote vLLM server are interchangeable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from glore.errors import InvalidInputError

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. Each field: default, then bound."""

    n: int = 1
    """Completions per prompt (1; 1..1024)."""
    temperature: float = 0.0
    """0 is greedy (0.0; 0..5)."""
    top_p: float = 1.0
    """Nucleus mass (1.0; (0, 1])."""
    max_tokens: int = 256
    """New tokens per completion (256; 1..32768)."""
    stop: tuple[str, ...] = ()
    """Strings that end a completion; the stop string is not returned (none)."""
    seed: int | None = None
    """Seed for sampling (None: unseeded). The promise is the backend's: the embedded one
    draws each sample's numbers from (seed, prompt, sample index), whatever else runs
    beside it; a vLLM server seeds the request with it."""

    @property
    def greedy(self) -> bool:
        """Temperature 0: every row takes its most likely token, with no draws."""
        return self.temperature == 0

    def __post_init__(self) -> None:
        if not 1 <= self.n <= 1024:
            raise InvalidInputError(f"n must be in 1..1024, got {self.n}")
        if not 0.0 <= self.temperature <= 5.0:
            raise InvalidInputError(f"temperature must be in 0..5, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise InvalidInputError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 1 <= self.max_tokens <= 32768:
            raise InvalidInputError(f"max_tokens must be in 1..32768, got {self.max_tokens}")


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """`text` up to the earliest of the `stop` strings found in it (the string not
    returned), and whether one was: how every backend applies `SamplingParams.stop`."""
    found = [text.index(s) for s in stop if s in text]
    return (text[: min(found)], True) if found else (text, False)


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int
    finish_reason: FinishReason


class Generator(Protocol):
    """A batch of prompts -> `params.n` completions for each, in prompt order."""

    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]: ...


class StepScorer(Protocol):
    """A batch of (question, steps) -> one probability per step, in order."""

    async def score(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]: ...
