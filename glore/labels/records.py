"""The rows the stages write and read (one JSON object per line)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class SampleRecord:
    """One student sample of one question, labelled by its final answer (ORM data)."""

    qid: str
    question: str
    answer: str
    """The problem's exact answer, as `format_answer` writes it."""
    index: int
    """Which of the S samples of this question."""
    steps: list[str]
    correct: bool


@dataclass
class PrefixRollouts:
    """K rollouts from one step prefix P_i (steps[:i]) of a question.

    `prefix` holds the i steps; each rollout is the continuation text after them. `correct`
    says whether prefix + rollout reaches the answer; `consistent` whether the rollout uses
    the value that the prefix's last step computed (see `training.labels.uses_value`).
    """

    qid: str
    question: str
    answer: str
    prefix: list[str]
    rollouts: list[list[str]]
    correct: list[bool]
    consistent: list[bool]

    @property
    def positive(self) -> bool:
        """P_i verified: some rollout from it is correct and consistent with it."""
        return any(c and k for c, k in zip(self.correct, self.consistent, strict=True))


@dataclass
class StepLabels:
    """One sample with a label per step for the ORM or SORM; None where balancing masked it."""

    qid: str
    question: str
    steps: list[str]
    labels: list[int | None]
    raw: list[int] = field(default_factory=list)
    """The labels before balancing masked any."""


@dataclass
class RefinePair:
    """A refiner training pair. `kind` is global or local; for local, `first_error` is the
    index of the step marked `[BAD]` and `target` continues after the kept steps."""

    kind: str
    qid: str
    question: str
    draft: list[str]
    target: list[str]
    first_error: int | None = None


def to_json(record: Any) -> dict[str, Any]:
    return asdict(record)


def from_json(cls: type[T], data: dict[str, Any]) -> T:
    return cls(**data)
