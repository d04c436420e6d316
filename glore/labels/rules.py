"""ORM and SORM step labels from student samples and prefix rollouts (pure functions).

SORM labelling follows GLoRe: step prefix P_i (the first i steps of a sample) is positive
when some rollout from it is correct and consistent with it (`uses_value`); the last step
of a sample is labelled by the sample's own correctness; then every step before a positive
step is made positive as well (the paper's post-processing).

Prefix rows are looked up by `PrefixKey` = (qid, tuple of prefix steps) where several
questions are involved (`index_prefixes`), and by the tuple of prefix steps alone within one
question (`group_prefixes`, `sorm_labels`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Any

from glore.formats import numbers_in, parse_solution, step_value
from glore.labels.records import PrefixRollouts, SampleRecord, StepLabels

PrefixKey = tuple[str, tuple[str, ...]]
"""(qid, prefix steps): how `index_prefixes` keys prefix rows."""


def uses_value(prefix: Sequence[str], continuation: Sequence[str]) -> bool:
    """The paper's consistency check: does the rollout use the value the prefix computed?

    Rule: let v = `step_value(prefix[-1])` (the result of the last step's last calculator
    annotation, else that step's last number). The rollout is consistent with the prefix iff
    v equals some number that `numbers_in` finds in one of the continuation's steps (its full
    text: the `####` line and the numbers inside `<<...>>` annotations included). An empty
    prefix, or one whose last step has no value, makes every rollout consistent (vacuously).
    """
    if not prefix:
        return True
    value = step_value(prefix[-1])
    if value is None:
        return True
    return any(value in numbers_in(step) for step in continuation)


def rollout_correct(
    prefix: Sequence[str],
    continuation: Sequence[str],
    answer: Fraction,
    tolerance: Fraction | None = None,
) -> bool:
    """True when prefix + continuation, parsed as one solution, reaches `answer`."""
    solution = parse_solution("\n".join([*prefix, *continuation]))
    return solution.is_correct(answer, tolerance)


def merge_rows(a: PrefixRollouts, b: PrefixRollouts) -> PrefixRollouts:
    """Two rows of the same (qid, prefix) as one: their rollouts pooled, `a`'s first."""
    return replace(
        a,
        rollouts=[*a.rollouts, *b.rollouts],
        correct=[*a.correct, *b.correct],
        consistent=[*a.consistent, *b.consistent],
    )


def index_prefixes(rows: Iterable[PrefixRollouts]) -> dict[PrefixKey, PrefixRollouts]:
    """Rows keyed by (qid, tuple(prefix)); rows with the same key are merged (`merge_rows`)."""
    out: dict[PrefixKey, PrefixRollouts] = {}
    for row in rows:
        key = (row.qid, tuple(row.prefix))
        out[key] = merge_rows(out[key], row) if key in out else row
    return out


def group_prefixes(
    rows: Iterable[PrefixRollouts],
) -> dict[str, dict[tuple[str, ...], PrefixRollouts]]:
    """Rows per qid, each question's keyed by tuple(prefix): the mapping `sorm_labels` takes."""
    out: dict[str, dict[tuple[str, ...], PrefixRollouts]] = {}
    for (qid, prefix), row in index_prefixes(rows).items():
        out.setdefault(qid, {})[prefix] = row
    return out


def propagate(labels: Sequence[int]) -> list[int]:
    """Every step before a positive step becomes positive."""
    last = max((i for i, label in enumerate(labels) if label), default=-1)
    return [1 if i <= last else int(label) for i, label in enumerate(labels)]


def lookup_prefix(
    prefixes: Mapping[tuple[str, ...], PrefixRollouts], qid: str, prefix: Sequence[str]
) -> PrefixRollouts:
    """The row for `prefix` of question `qid`; KeyError or ValueError saying what is wrong."""
    key = tuple(prefix)
    if key not in prefixes:
        raise KeyError(f"no rollouts for question {qid!r} prefix of {len(key)} steps: {key!r}")
    row = prefixes[key]
    if row.qid != qid:
        raise ValueError(f"prefix row belongs to question {row.qid!r}, not {qid!r}")
    return row


def sorm_labels(
    sample: SampleRecord, prefixes: Mapping[tuple[str, ...], PrefixRollouts]
) -> list[int]:
    """One SORM label per step of `sample`, propagated (see module docstring).

    `prefixes` holds this question's rows keyed by tuple(prefix steps); step i (1-based,
    i < n) reads the row for steps[:i]; step n is `sample.correct`.
    """
    steps = sample.steps
    raw = [
        int(lookup_prefix(prefixes, sample.qid, steps[:i]).positive) for i in range(1, len(steps))
    ]
    if steps:
        raw.append(int(sample.correct))
    return propagate(raw)


def orm_labels(sample: SampleRecord) -> list[int]:
    """Every step labelled with the sample's final outcome."""
    return [int(sample.correct)] * len(sample.steps)


def to_step_labels(sample: SampleRecord, labels: Sequence[int]) -> StepLabels:
    """A training example of `sample` with `labels` (unmasked, so `raw` equals them)."""
    if len(labels) != len(sample.steps):
        raise ValueError(f"{len(labels)} labels for {len(sample.steps)} steps")
    return StepLabels(sample.qid, sample.question, list(sample.steps), list(labels), list(labels))


def _raw(example: StepLabels) -> list[int]:
    if example.raw:
        return list(example.raw)
    if any(label is None for label in example.labels):
        raise ValueError(f"example of {example.qid!r} has masked labels but no raw labels")
    return [int(label) for label in example.labels if label is not None]


def balance(examples: list[StepLabels], rng: random.Random) -> list[StepLabels]:
    """Equal positives and negatives at every step position, by masking (None) at random.

    At each position j (in order), among the examples whose label at j is not None, a random
    subset of the majority class (`rng.sample`, examples taken in input order) is masked so
    both classes count the same. Returns new examples, one per input and in input order,
    each with `raw` holding the unmasked labels; examples left with every label masked are
    kept (the trainer skips them) so outputs stay aligned with inputs. Inputs are not changed.
    """
    out = [replace(ex, labels=list(ex.labels), raw=_raw(ex)) for ex in examples]
    width = max((len(ex.labels) for ex in out), default=0)
    for j in range(width):
        pos = [k for k, ex in enumerate(out) if j < len(ex.labels) and ex.labels[j] == 1]
        neg = [k for k, ex in enumerate(out) if j < len(ex.labels) and ex.labels[j] == 0]
        major, minor = (pos, neg) if len(pos) > len(neg) else (neg, pos)
        for k in rng.sample(major, len(major) - len(minor)):
            out[k].labels[j] = None
    return out


def label_summary(examples: Sequence[StepLabels]) -> dict[str, Any]:
    """Per step position and in total: positive, negative and masked label counts."""
    positions: list[dict[str, int]] = []
    for ex in examples:
        for j, label in enumerate(ex.labels):
            if j == len(positions):
                positions.append({"position": j, "positive": 0, "negative": 0, "masked": 0})
            name = "masked" if label is None else "positive" if label else "negative"
            positions[j][name] += 1
    totals = {n: sum(p[n] for p in positions) for n in ("positive", "negative", "masked")}
    return {"examples": len(examples), "positions": positions, **totals}


def _rate(num: int, den: int) -> float:
    return num / den if den else 0.0


def noise_estimate(
    small: Sequence[PrefixRollouts], large: Sequence[PrefixRollouts]
) -> dict[str, float | int]:
    """How often the positive label under small K differs from the label under large K.

    Rows are matched by (qid, prefix) (duplicates merged, `index_prefixes`); large K is taken
    as the truth. `disagreement` is over all matched prefixes; `false_negative_rate` is the
    share of large-K positives that small K calls negative, `false_positive_rate` the share
    of large-K negatives that small K calls positive. Rates are 0.0 where undefined.
    """
    a, b = index_prefixes(small), index_prefixes(large)
    pairs = [(a[k].positive, b[k].positive) for k in a if k in b]
    fn = sum(1 for s, t in pairs if t and not s)
    fp = sum(1 for s, t in pairs if s and not t)
    true_pos = sum(1 for _, t in pairs if t)
    return {
        "count": len(pairs),
        "unmatched_small": len(a) - len(pairs),
        "unmatched_large": len(b) - len(pairs),
        "disagreement": _rate(fn + fp, len(pairs)),
        "false_negatives": fn,
        "false_positives": fp,
        "false_negative_rate": _rate(fn, true_pos),
        "false_positive_rate": _rate(fp, len(pairs) - true_pos),
        "small_positive_rate": _rate(sum(1 for s, _ in pairs if s), len(pairs)),
        "large_positive_rate": _rate(true_pos, len(pairs)),
    }
