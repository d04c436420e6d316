"""Global and local refiner training pairs from student samples and prefix rollouts.

Global: an incorrect sample of a question paired with a correct sample of the same question
(or, with `refine_data.global_drafts: greedy`, the question's incorrect greedy draft).
With `refine_data.local_drafts: greedy`, local pairs come from the incorrect greedy drafts
by the rule below, their prefixes rolled out like the samples' (`greedy_local_pairs`).

Local (GLoRe's rule): for an incorrect sample with steps s_1..s_n, positivity of its prefixes
is P_0 = any sample of the question is correct (its "rollouts" are the samples themselves),
P_i (0 < i < n) = the row for steps[:i] is positive, P_n = the sample is correct (false).
With i the LAST positive prefix (so P_{i+1}..P_n are all negative, as after the SORM label
propagation), the first error is step i (0-based) and a pair is: draft = the sample, or
steps[:i+1] + an incorrect rollout from P_{i+1}, with `[BAD]` before step i (`first_error=i`);
target = the continuation of a correct and consistent rollout from P_i (for i = 0, a correct
sample's full steps), so kept prefix steps[:i] + target is a correct solution.

Pairs are deduplicated, then at most `cap_per_question` are drawn per question with `rng`
(uniformly among the distinct candidates, kept in candidate order); questions are visited in
order of first appearance and samples in input order, so output is deterministic given rng.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from glore.labels.records import PrefixRollouts, RefinePair, SampleRecord
from glore.labels.rules import PrefixKey

Steps = tuple[str, ...]


def by_question(samples: Sequence[SampleRecord]) -> dict[str, list[SampleRecord]]:
    """Samples grouped by qid, questions in order of first appearance."""
    out: dict[str, list[SampleRecord]] = {}
    for sample in samples:
        out.setdefault(sample.qid, []).append(sample)
    return out


def _cap(pairs: list[RefinePair], cap: int, rng: random.Random) -> list[RefinePair]:
    """Distinct pairs (first occurrence kept), at most `cap` drawn at random, order kept."""
    if cap < 0:
        raise ValueError(f"cap_per_question must be >= 0, got {cap}")
    seen: dict[tuple[int | None, Steps, Steps], RefinePair] = {}
    for p in pairs:
        seen.setdefault((p.first_error, tuple(p.draft), tuple(p.target)), p)
    unique = list(seen.values())
    if len(unique) <= cap:
        return unique
    return [unique[k] for k in sorted(rng.sample(range(len(unique)), cap))]


def global_pairs(
    samples: Sequence[SampleRecord], cap_per_question: int, rng: random.Random
) -> list[RefinePair]:
    """Every (incorrect sample -> correct sample) of the same question, deduplicated, capped."""
    out: list[RefinePair] = []
    for qid, group in by_question(samples).items():
        right = [s for s in group if s.correct]
        pairs = [
            RefinePair("global", qid, w.question, list(w.steps), list(r.steps))
            for w in group
            if not w.correct
            for r in right
        ]
        out.extend(_cap(pairs, cap_per_question, rng))
    return out


def greedy_pairs(
    drafts: Sequence[SampleRecord],
    samples: Sequence[SampleRecord],
    cap_per_question: int,
    rng: random.Random,
) -> list[RefinePair]:
    """(the question's incorrect greedy draft -> a correct sample), deduplicated, capped:
    global pairs whose drafts are what the refiner is handed when serving. A question whose
    draft is correct, or with no correct sample, gives none."""
    right = {qid: [s for s in group if s.correct] for qid, group in by_question(samples).items()}
    out: list[RefinePair] = []
    for draft in drafts:
        if draft.correct:
            continue
        pairs = [
            RefinePair("global", draft.qid, draft.question, list(draft.steps), list(r.steps))
            for r in right.get(draft.qid, [])
        ]
        out.extend(_cap(pairs, cap_per_question, rng))
    return out


def _row(prefixes: Mapping[PrefixKey, PrefixRollouts], qid: str, steps: Steps) -> PrefixRollouts:
    key = (qid, steps)
    if key not in prefixes:
        raise KeyError(f"no rollouts for question {qid!r} prefix of {len(steps)} steps: {steps!r}")
    return prefixes[key]


def last_positive(
    sample: SampleRecord, prefixes: Mapping[PrefixKey, PrefixRollouts], any_correct: bool
) -> int | None:
    """The largest i with P_i positive for this sample (module docstring), None if none."""
    steps = tuple(sample.steps)
    if sample.correct:
        return len(steps)
    for i in range(len(steps) - 1, 0, -1):
        if _row(prefixes, sample.qid, steps[:i]).positive:
            return i
    return 0 if any_correct else None


def _targets(row: PrefixRollouts) -> list[list[str]]:
    """Continuations of the correct and consistent rollouts of a prefix row."""
    return [
        list(r)
        for r, ok, uses in zip(row.rollouts, row.correct, row.consistent, strict=True)
        if ok and uses and r
    ]


def _drafts(sample: SampleRecord, row: PrefixRollouts | None) -> list[list[str]]:
    """The sample, then prefix + each incorrect rollout of its row P_{i+1} (if any)."""
    drafts = [list(sample.steps)]
    if row is not None:
        kept = list(row.prefix)
        drafts += [
            kept + list(r) for r, ok in zip(row.rollouts, row.correct, strict=True) if not ok
        ]
    return drafts


def _sample_pairs(
    sample: SampleRecord,
    group: Sequence[SampleRecord],
    prefixes: Mapping[PrefixKey, PrefixRollouts],
) -> list[RefinePair]:
    """The local pairs one incorrect sample yields (none when no prefix is positive)."""
    right = [list(s.steps) for s in group if s.correct]
    i = last_positive(sample, prefixes, bool(right))
    steps = tuple(sample.steps)
    if i is None or i >= len(steps):
        return []
    targets = right if i == 0 else _targets(_row(prefixes, sample.qid, steps[:i]))
    after = _row(prefixes, sample.qid, steps[: i + 1]) if i + 1 < len(steps) else None
    return [
        RefinePair("local", sample.qid, sample.question, draft, target, first_error=i)
        for draft in _drafts(sample, after)
        for target in targets
    ]


def local_pairs(
    samples: Sequence[SampleRecord],
    prefixes: Mapping[PrefixKey, PrefixRollouts],
    cap_per_question: int,
    rng: random.Random,
) -> list[RefinePair]:
    """Local refinement pairs (module docstring). `prefixes` is keyed by (qid, tuple(prefix
    steps)), as `training.labels.index_prefixes` builds it; a prefix steps[:i] (0 < i < n) of
    an incorrect sample that the rule reads and that is missing raises KeyError."""
    out: list[RefinePair] = []
    for _qid, group in by_question(samples).items():
        pairs = [p for s in group if not s.correct for p in _sample_pairs(s, group, prefixes)]
        out.extend(_cap(pairs, cap_per_question, rng))
    return out


def greedy_local_pairs(
    drafts: Sequence[SampleRecord],
    samples: Sequence[SampleRecord],
    prefixes: Mapping[PrefixKey, PrefixRollouts],
    cap_per_question: int,
    rng: random.Random,
) -> list[RefinePair]:
    """Local pairs of the student's incorrect greedy drafts, by the same rule as
    `local_pairs` (their prefixes' rollouts in `prefixes`; a first error at step 0 takes
    the question's correct samples as targets), capped per draft (a question has one
    greedy draft)."""
    groups = by_question(samples)
    out: list[RefinePair] = []
    for draft in drafts:
        if not draft.correct:
            pairs = _sample_pairs(draft, groups.get(draft.qid, []), prefixes)
            out.extend(_cap(pairs, cap_per_question, rng))
    return out


def pair_summary(pairs: Sequence[RefinePair]) -> dict[str, Any]:
    """Counts by kind, questions covered (overall and per kind), first_error histogram."""
    kinds = sorted({p.kind for p in pairs})
    errors = Counter(p.first_error for p in pairs if p.first_error is not None)
    return {
        "pairs": len(pairs),
        "by_kind": {k: sum(1 for p in pairs if p.kind == k) for k in kinds},
        "questions": len({p.qid for p in pairs}),
        "questions_by_kind": {k: len({p.qid for p in pairs if p.kind == k}) for k in kinds},
        "first_error": dict(sorted(errors.items())),
    }
