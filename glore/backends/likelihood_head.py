"""The likelihood verifier's head, shared by the embedded and the remote scorers: numbers
of a solution (or of each step prefix) under a causal LM (`FEATURES`: its tokens' mean and
minimum log-probability, their count, the last step's own, ...), the head's chosen ones
weighted by a logistic head fitted to the student's samples' labels (stages `orm` and
`sorm` with `kind: likelihood`: outcome labels for an ORM, step-prefix rollout labels for a
SORM).

A model folder holds such a verifier when `HEAD_FILE` lies beside a causal LM's
`config.json` (for a remote ORM: in its `tokenizer` folder, the served checkpoint).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Self

from glore.errors import ConfigError, ModelNotFoundError
from glore.formats.positions import DIGIT, OPERATOR

HEAD_FILE = "likelihood_head.json"
FEATURES: tuple[str, ...] = (
    "mean",  # mean token log-probability of the prefix
    "min",  # its lowest token log-probability
    "length/100",  # its token count / 100
    "step_mean",  # mean log-probability of the last step's tokens alone
    "step_min",  # their lowest
    "below-1/10",  # prefix tokens with log-probability below -1, / 10
    "below-2/10",  # below -2, / 10
    "step/10",  # the step's index (0 first) / 10
    "worst_step_mean",  # the lowest step mean of the prefix's steps
    "digit_mean",  # mean log-probability of the prefix's digit tokens
    "digit_min",  # their lowest
    "digit_below-1/10",  # digit tokens below -1, / 10
    "digit_below-2/10",  # below -2, / 10
    "op_mean",  # the same four of its operator and equation tokens
    "op_min",
    "op_below-1/10",
    "op_below-2/10",
)
"""Every feature a head may weigh, in the order `prefix_features` gives them. The prefix's
own numbers say how sure the LM was of the solution so far; the step's numbers and the
worst step say where it first grew unsure, which a mean over a long prefix blurs (E16).
The digit and operator numbers read the tokens that decide an answer apart from the words
around them (`glore.formats.token_kind`), which a small student writes noisily whether or
not it is right (E34)."""
BASE_FEATURES: tuple[str, ...] = FEATURES[:3]
"""The features of a head that names none (every head fitted before E17)."""
_INDEX = {name: i for i, name in enumerate(FEATURES)}

Features = tuple[float, ...]
"""One prefix's values of every one of `FEATURES`."""


@dataclass(frozen=True)
class LikelihoodHead:
    """`sigmoid(weights . features + bias)`; fitted, never hand-set (stages `orm`, `sorm`)."""

    weights: tuple[float, ...]
    bias: float
    features: tuple[str, ...] = BASE_FEATURES
    """Which of `FEATURES` the weights weigh, in their order (distinct, at least one)."""

    def __post_init__(self) -> None:
        numbers = [*self.weights, self.bias]
        check_features(self.features)
        if len(self.weights) != len(self.features):
            raise ConfigError(
                f"a likelihood head has one weight per feature: {len(self.features)} "
                f"features {list(self.features)}, {len(self.weights)} weights"
            )
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers):
            raise ConfigError(f"a likelihood head's weights and bias must be finite: {numbers}")

    def probability(self, x: Features) -> float:
        """`x`: a prefix's values of every one of `FEATURES`; the head reads its own."""
        pairs = zip(self.weights, self.features, strict=True)
        logit = sum(w * x[_INDEX[n]] for w, n in pairs) + self.bias
        return 1.0 / (1.0 + math.exp(-logit)) if logit > -700 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "likelihood", **asdict(self)}

    def save(self, folder: Path, **record: Any) -> None:
        """`record`: how the head was fitted, kept beside it."""
        (folder / HEAD_FILE).write_text(json.dumps({**self.to_dict(), **record}, indent=2) + "\n")

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        path = Path(folder) / HEAD_FILE
        if not path.is_file():
            raise ModelNotFoundError(f"no likelihood head at {path}")
        try:
            data = json.loads(path.read_text())
            features = tuple(data.get("features", BASE_FEATURES))
            return cls(tuple(data["weights"]), data["bias"], features)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a likelihood head ({exc})") from exc


def check_features(names: Sequence[str]) -> None:
    """Refuse a feature list a head cannot weigh, saying which are allowed."""
    unknown = [n for n in names if n not in _INDEX]
    if not names or unknown or len(set(names)) != len(names):
        raise ConfigError(
            f"likelihood features {list(names)}: give distinct names, at least one, "
            f"from {list(FEATURES)}" + (f" (unknown: {unknown})" if unknown else "")
        )


def select(rows: Sequence[Features], names: Sequence[str]) -> list[list[float]]:
    """The columns `names` of rows of every feature (what a head of those features reads)."""
    index = [_INDEX[n] for n in names]
    return [[row[i] for i in index] for row in rows]


class Tally:
    """Running mean, minimum and counts below -1 and -2 of some tokens' log-probabilities."""

    def __init__(self) -> None:
        self.total, self.low, self.count, self.below1, self.below2 = 0.0, math.inf, 0, 0, 0

    def add(self, value: float) -> None:
        self.total, self.low, self.count = self.total + value, min(self.low, value), self.count + 1
        self.below1, self.below2 = self.below1 + (value < -1), self.below2 + (value < -2)

    def four(self) -> Features:
        """(mean, min, below -1 / 10, below -2 / 10); zeros where no token was seen."""
        if not self.count:
            return (0.0, 0.0, 0.0, 0.0)
        return (self.total / self.count, self.low, self.below1 / 10, self.below2 / 10)


def prefix_features(
    logps: Sequence[float], ends: Sequence[int], kinds: Sequence[int]
) -> list[Features]:
    """Every one of `FEATURES` of `logps[: end + 1]` for each of `ends` (in order), where
    `logps` are the solution's token log-probabilities from its first token and `kinds`
    their tokens' `glore.formats.token_kind`; the last step's tokens are those after the
    previous end."""
    out: list[Features] = []
    every, digits, ops = Tally(), Tally(), Tally()
    by_kind = {DIGIT: digits, OPERATOR: ops}
    done, worst = 0, math.inf
    for j, end in enumerate(ends):
        step = logps[done : end + 1]
        for value, kind in zip(step, kinds[done : end + 1], strict=True):
            every.add(value)
            if kind in by_kind:
                by_kind[kind].add(value)
        done = max(done, end + 1)
        if not every.count:
            out.append((0.0,) * len(FEATURES))
            continue
        mean, low, below1, below2 = every.four()
        step_mean, step_min = (sum(step) / len(step), min(step)) if step else (mean, low)
        worst = min(worst, step_mean)
        count = every.count / 100
        whole = (mean, low, count, step_mean, step_min, below1, below2, j / 10, worst)
        out.append(whole + digits.four() + ops.four())
    return out


def step_features(
    logps: Sequence[float], first: int, ends: Sequence[int], kinds: Sequence[int]
) -> list[Features]:
    """`prefix_features` of a whole prompt's token log-probabilities `logps` and token
    kinds `kinds`, whose solution starts at token `first` and whose steps end at the tokens
    `ends`."""
    return prefix_features(logps[first:], [end - first for end in ends], kinds[first:])
