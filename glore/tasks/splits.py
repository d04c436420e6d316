"""Train, validation and test splits of the file datasets, for training on them.

GSM8K ships `train` and `test` and SVAMP one list; a training run also needs a validation
split that no stage trains on. The split a question belongs to is a function of its text
alone (its SHA-256), so it is disjoint, the same on every machine and in every recipe, and
does not move when the file's order changes:

- GSM8K: `validation` is the train file's questions whose hash bucket (of 100) is below
  `GSM8K_VALIDATION` (10: 695 of the 7,473), `train` the rest (6,778); `test` is the
  test file, untouched (1,319), so `glore eval --task gsm8k` reads the same test.
- SVAMP: buckets below `SVAMP_TEST` (20) are `test`, up to `SVAMP_TEST + SVAMP_VALIDATION`
  (30) `validation`, the rest `train` (224 / 98 / 678 of the 1,000).

A question's bucket is `glore.tasks.arith.question_hash(question) % 100`, as for arith.
Problems keep their file ids (`gsm8k-train-17`), which name the line they came from.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from glore.errors import InvalidInputError
from glore.formats import Problem
from glore.tasks.arith import question_hash

GSM8K_VALIDATION = 10
"""Percent of the GSM8K train file held out as validation (by question hash)."""
SVAMP_TEST = 20
"""Percent of SVAMP held out as test (by question hash)."""
SVAMP_VALIDATION = 10
"""Percent of SVAMP held out as validation (by question hash), after the test's."""

SPLITS = ("train", "validation", "test")


def bucket(question: str) -> int:
    """The question's hash bucket, 0..99."""
    return question_hash(question) % 100


class HeldOutSplits:
    """A file dataset as `train`, `validation` and `test` (see the module's docstring);
    `size(split)` counts a split's problems, so a recipe's sizes can be checked up front."""

    def __init__(self, name: str, path: Path) -> None:
        if name not in ("gsm8k", "svamp"):
            raise InvalidInputError(f"held-out splits are for gsm8k and svamp, not {name!r}")
        self.name = name
        self.path = Path(path)

    @property
    def splits(self) -> tuple[str, ...]:
        return SPLITS

    def load(self, split: str, n: int | None = None) -> list[Problem]:
        """The first `n` problems of `split` (all when None), in file order."""
        if split not in SPLITS:
            raise InvalidInputError(
                f"{self.name} for training has no split {split!r}; splits: {', '.join(SPLITS)}"
            )
        if n is not None and n < 0:
            raise InvalidInputError(f"n must be None or >= 0, got {n}")
        problems = _split(self.name, self.path.resolve(), split)
        return list(problems if n is None else problems[:n])

    def size(self, split: str) -> int:
        return len(self.load(split))


@cache
def _split(name: str, path: Path, split: str) -> tuple[Problem, ...]:
    """One split, read once per process: every stage slices the same lists."""
    from glore.tasks.gsm8k import Gsm8kTask
    from glore.tasks.svamp import SPLIT, SvampTask

    if name == "gsm8k":
        task = Gsm8kTask(path)
        if split == "test":
            return tuple(task.load("test"))
        source = task.load("train")
    else:
        source = SvampTask(path).load(SPLIT)
    owned = bucket_range(name, split)
    return tuple(p for p in source if bucket(p.question) in owned)


def bucket_range(name: str, split: str) -> range:
    """The hash buckets `split` owns; GSM8K's `train` and `validation` share out the
    train file's (its `test` is the test file)."""
    if name == "gsm8k":
        return range(GSM8K_VALIDATION) if split == "validation" else range(GSM8K_VALIDATION, 100)
    edges = {
        "test": range(SVAMP_TEST),
        "validation": range(SVAMP_TEST, SVAMP_TEST + SVAMP_VALIDATION),
        "train": range(SVAMP_TEST + SVAMP_VALIDATION, 100),
    }
    return edges[split]
