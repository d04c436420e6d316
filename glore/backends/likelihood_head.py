"""The likelihood verifier's head, shared by the embedded and the remote scorers: three
numbers of a solution (or of each step prefix) under a causal LM, its tokens' mean and
minimum log-probability and their count / 100, weighted by a logistic head fitted to the
student's samples' labels (stages `orm` and `sorm` with `kind: likelihood`: outcome labels
for an ORM, step-prefix rollout labels for a SORM).

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

HEAD_FILE = "likelihood_head.json"
FEATURES = ("mean", "min", "length/100")
"""The head's inputs, in its weights' order."""

Features = tuple[float, float, float]


@dataclass(frozen=True)
class LikelihoodHead:
    """`sigmoid(weights . features + bias)`; fitted, never hand-set (stages `orm`, `sorm`)."""

    weights: tuple[float, float, float]
    bias: float
    features: tuple[str, ...] = FEATURES

    def __post_init__(self) -> None:
        numbers = [*self.weights, self.bias]
        if tuple(self.features) != FEATURES or len(self.weights) != len(FEATURES):
            raise ConfigError(
                f"a likelihood head weighs the features {list(FEATURES)}, "
                f"got {list(self.features)} with {len(self.weights)} weights"
            )
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers):
            raise ConfigError(f"a likelihood head's weights and bias must be finite: {numbers}")

    def probability(self, x: Features) -> float:
        logit = sum(w * v for w, v in zip(self.weights, x, strict=True)) + self.bias
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
            return cls(tuple(data["weights"]), data["bias"], tuple(data["features"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a likelihood head ({exc})") from exc


def prefix_features(logps: Sequence[float], ends: Sequence[int]) -> list[Features]:
    """(mean, min, count / 100) of `logps[: end + 1]` for each of `ends`, where `logps` are
    the solution's token log-probabilities from its first token."""
    out: list[Features] = []
    total, low, done = 0.0, math.inf, 0
    for end in ends:
        for value in logps[done : end + 1]:
            total, low = total + value, min(low, value)
        done = max(done, end + 1)
        count = min(done, len(logps))
        out.append((total / count, low, count / 100) if count else (0.0, 0.0, 0.0))
    return out


def step_features(logps: Sequence[float], first: int, ends: Sequence[int]) -> list[Features]:
    """`prefix_features` of a whole prompt's token log-probabilities `logps`, whose
    solution starts at token `first` and whose steps end at the tokens `ends`."""
    return prefix_features(logps[first:], [end - first for end in ends])
