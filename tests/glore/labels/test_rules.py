import random
from fractions import Fraction

import pytest

from glore.labels.records import PrefixRollouts, SampleRecord, StepLabels
from glore.labels.rules import (
    balance,
    group_prefixes,
    index_prefixes,
    label_summary,
    noise_estimate,
    orm_labels,
    propagate,
    rollout_correct,
    sorm_labels,
    to_step_labels,
    uses_value,
)

Q = "Mia has 3 apples and buys 4 more. Then she buys 2 more. How many apples does she have?"
ANSWER = Fraction(9)
GOOD = [
    "Mia now has 3 + 4 = <<3+4=7>>7 apples.",
    "Then she has 7 + 2 = <<7+2=9>>9 apples.",
    "#### 9",
]
BAD_FIRST = [
    "Mia now has 3 + 5 = <<3+5=8>>8 apples.",
    "Then she has 8 + 2 = <<8+2=10>>10 apples.",
    "#### 10",
]


def row(prefix: list[str], rollouts: list[list[str]], qid: str = "q1") -> PrefixRollouts:
    """A prefix row scored with the functions under test."""
    return PrefixRollouts(
        qid=qid,
        question=Q,
        answer="9",
        prefix=prefix,
        rollouts=rollouts,
        correct=[rollout_correct(prefix, r, ANSWER) for r in rollouts],
        consistent=[uses_value(prefix, r) for r in rollouts],
    )


def flagged(prefix: list[str], positive: bool, qid: str = "q1") -> PrefixRollouts:
    """A prefix row with one rollout whose flags make it `positive` or not."""
    return PrefixRollouts(qid, Q, "9", prefix, [["#### 9"]], [positive], [True])


def sample(steps: list[str], correct: bool, qid: str = "q1", index: int = 0) -> SampleRecord:
    return SampleRecord(qid, Q, "9", index, steps, correct)


def test_uses_value_reads_annotations_and_answer_line() -> None:
    prefix = GOOD[:1]
    assert uses_value(prefix, ["Then she has 7 + 2 = 9 apples.", "#### 9"])
    assert uses_value(prefix, ["Then <<7+2=9>> apples.", "#### 9"])
    assert uses_value(GOOD[:2], ["#### 9"])
    assert not uses_value(prefix, ["She has 3 + 4 + 2 = <<3+4+2=9>>9 apples.", "#### 9"])


def test_uses_value_vacuous_cases() -> None:
    assert uses_value([], ["#### 1"])
    assert uses_value(["Mia counts her apples."], ["#### 1"])


def test_rollout_correct() -> None:
    assert rollout_correct(GOOD[:1], GOOD[1:], ANSWER)
    assert not rollout_correct(BAD_FIRST[:1], BAD_FIRST[1:], ANSWER)
    assert rollout_correct(BAD_FIRST[:1], ["#### 9.4"], ANSWER, tolerance=Fraction(1, 2))


def test_prefix_with_one_good_rollout_among_k_is_positive() -> None:
    r = row(GOOD[:1], [["Then 7 + 3 = 10.", "#### 10"], ["#### 8"], GOOD[1:]])
    assert r.correct == [False, False, True]
    assert r.consistent == [True, False, True]
    assert r.positive


def test_correct_rollout_ignoring_prefix_value_is_not_positive() -> None:
    ignores = ["She has 3 + 4 + 2 = <<3+4+2=9>>9 apples.", "#### 9"]
    r = row(BAD_FIRST[:1], [ignores, BAD_FIRST[1:]])
    assert r.correct == [True, False]
    assert r.consistent == [False, True]
    assert not r.positive


def test_sorm_labels_read_prefixes_and_own_correctness() -> None:
    rows = [row(GOOD[:1], [GOOD[1:]]), row(GOOD[:2], [["#### 10"]])]
    prefixes = {tuple(r.prefix): r for r in rows}
    # P_2's only rollout is wrong, but the full solution is correct: last label wins and
    # propagation makes the earlier steps positive.
    assert sorm_labels(sample(GOOD, True), prefixes) == [1, 1, 1]
    rows = [row(BAD_FIRST[:1], [BAD_FIRST[1:]]), row(BAD_FIRST[:2], [["#### 10"]])]
    prefixes = {tuple(r.prefix): r for r in rows}
    assert sorm_labels(sample(BAD_FIRST, False), prefixes) == [0, 0, 0]


def test_propagation_makes_earlier_negatives_positive() -> None:
    steps = ["a 1", "b 2", "c 3", "#### 4"]
    rows = [flagged(steps[:1], False), flagged(steps[:2], False), flagged(steps[:3], True)]
    prefixes = {tuple(r.prefix): r for r in rows}
    assert sorm_labels(sample(steps, False), prefixes) == [1, 1, 1, 0]
    assert propagate([0, 1, 0, 1, 0]) == [1, 1, 1, 1, 0]
    assert propagate([]) == []


def test_sorm_labels_missing_or_foreign_prefix() -> None:
    with pytest.raises(KeyError, match="no rollouts for question 'q1'"):
        sorm_labels(sample(GOOD, True), {tuple(GOOD[:1]): flagged(GOOD[:1], True)})
    foreign = {tuple(GOOD[:i]): flagged(GOOD[:i], True, qid="q2") for i in (1, 2)}
    with pytest.raises(ValueError, match="belongs to question 'q2'"):
        sorm_labels(sample(GOOD, True), foreign)


def test_orm_labels() -> None:
    assert orm_labels(sample(GOOD, True)) == [1, 1, 1]
    assert orm_labels(sample(BAD_FIRST, False)) == [0, 0, 0]


def test_index_and_group_prefixes_merge_duplicates() -> None:
    a, b = flagged(GOOD[:1], False), flagged(GOOD[:1], True)
    merged = index_prefixes([a, b])[("q1", tuple(GOOD[:1]))]
    assert merged.correct == [False, True] and merged.positive
    assert a.correct == [False]
    grouped = group_prefixes([a, flagged(GOOD[:1], True, qid="q2")])
    assert set(grouped) == {"q1", "q2"}
    assert not grouped["q1"][tuple(GOOD[:1])].positive


def examples() -> list[StepLabels]:
    labels = [[1, 1, 0], [1, 0, 0], [1, 1], [0, 1, 1], [1], [1, 1, 1]]
    return [StepLabels(f"q{k}", Q, ["s"] * len(ls), list(ls)) for k, ls in enumerate(labels)]


def test_balance_equalises_counts_per_position() -> None:
    before = examples()
    out = balance(before, random.Random(0))
    summary = label_summary(out)
    for pos in summary["positions"]:
        assert pos["positive"] == pos["negative"]
    assert [p["masked"] for p in summary["positions"]] == [4, 3, 0]
    assert summary["positive"] == summary["negative"] == 4
    assert [ex.raw for ex in out] == [ex.labels for ex in before]
    assert before[0].labels == [1, 1, 0]  # inputs untouched
    for ex in out:
        assert all(m is None or m == r for m, r in zip(ex.labels, ex.raw, strict=True))


def test_balance_is_deterministic_and_keeps_all_examples() -> None:
    a = balance(examples(), random.Random(7))
    b = balance(examples(), random.Random(7))
    assert [ex.labels for ex in a] == [ex.labels for ex in b]
    assert len(a) == len(examples())
    lone = [StepLabels("q", Q, ["s"], [1]), StepLabels("r", Q, ["s", "t"], [1, 0])]
    assert [ex.labels for ex in balance(lone, random.Random(0))] == [[None], [None, None]]
    many = [balance(examples(), random.Random(s))[0].labels for s in range(20)]
    assert len({tuple(m) for m in many}) > 1


def test_balance_rebalances_using_raw() -> None:
    once = balance(examples(), random.Random(1))
    twice = balance(once, random.Random(2))
    assert [ex.raw for ex in twice] == [ex.raw for ex in once]
    with pytest.raises(ValueError, match="no raw labels"):
        balance([StepLabels("q", Q, ["s"], [None])], random.Random(0))


def test_label_summary_and_to_step_labels() -> None:
    ex = to_step_labels(sample(GOOD, True), [1, 1, 1])
    ex2 = StepLabels("q2", Q, ["a", "b"], [0, None], [0, 1])
    summary = label_summary([ex, ex2])
    assert summary["examples"] == 2
    assert summary["positions"][0] == {"position": 0, "positive": 1, "negative": 1, "masked": 0}
    assert summary["positions"][1] == {"position": 1, "positive": 1, "negative": 0, "masked": 1}
    assert (summary["positive"], summary["negative"], summary["masked"]) == (3, 1, 1)
    with pytest.raises(ValueError):
        to_step_labels(sample(GOOD, True), [1])


def test_noise_estimate() -> None:
    def rows(flags: dict[str, bool]) -> list[PrefixRollouts]:
        return [flagged([name], pos) for name, pos in flags.items()]

    small = rows({"a 1": True, "b 2": False, "c 3": False, "d 4": True, "x 9": True})
    large = rows({"a 1": True, "b 2": True, "c 3": False, "d 4": False, "e 5": True})
    est = noise_estimate(small, large)
    assert est["count"] == 4
    assert est["unmatched_small"] == est["unmatched_large"] == 1
    assert est["disagreement"] == 0.5
    assert est["false_negatives"] == est["false_positives"] == 1
    assert est["false_negative_rate"] == 0.5
    assert est["false_positive_rate"] == 0.5
    assert est["small_positive_rate"] == est["large_positive_rate"] == 0.5
    assert noise_estimate([], [])["disagreement"] == 0.0
