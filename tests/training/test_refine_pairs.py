import random
from fractions import Fraction

import pytest

from glore.formats import BAD_MARKER, local_prompt
from glore.labels.records import PrefixRollouts, RefinePair, SampleRecord
from glore.labels.rules import index_prefixes, rollout_correct, uses_value
from training.refine_pairs import (
    global_pairs,
    greedy_local_pairs,
    greedy_pairs,
    local_pairs,
    pair_summary,
)

Q1 = "Mia has 3 apples and buys 4 more. Then she buys 2 more. How many apples does she have?"
Q2 = "Tom has 5 pens and loses 1. How many pens are left?"
GOOD = [
    "Mia now has 3 + 4 = <<3+4=7>>7 apples.",
    "Then she has 7 + 2 = <<7+2=9>>9 apples.",
    "#### 9",
]
GOOD_ALT = ["Mia has 3 + 4 + 2 = <<3+4+2=9>>9 apples.", "#### 9"]
BAD_SECOND = [  # first error at step 1: P_1 positive, P_2 negative
    "Mia now has 3 + 4 = <<3+4=7>>7 apples.",
    "Then she has 7 + 3 = <<7+3=10>>10 apples.",
    "#### 10",
]
BAD_FIRST = [  # first error at step 0: P_1 negative
    "Mia now has 3 + 5 = <<3+5=8>>8 apples.",
    "Then she has 8 + 2 = <<8+2=10>>10 apples.",
    "#### 10",
]
TOM_GOOD = ["Tom has 5 - 1 = <<5-1=4>>4 pens.", "#### 4"]
TOM_BAD = ["Tom has 5 + 1 = <<5+1=6>>6 pens.", "#### 6"]


def sample(qid: str, index: int, steps: list[str], correct: bool) -> SampleRecord:
    question, answer = (Q1, "9") if qid == "q1" else (Q2, "4")
    return SampleRecord(qid, question, answer, index, steps, correct)


def row(prefix: list[str], rollouts: list[list[str]]) -> PrefixRollouts:
    return PrefixRollouts(
        "q1",
        Q1,
        "9",
        prefix,
        rollouts,
        [rollout_correct(prefix, r, Fraction(9)) for r in rollouts],
        [uses_value(prefix, r) for r in rollouts],
    )


def q1_samples() -> list[SampleRecord]:
    return [
        sample("q1", 0, GOOD, True),
        sample("q1", 1, BAD_SECOND, False),
        sample("q1", 2, BAD_FIRST, False),
        sample("q1", 3, BAD_SECOND, False),  # duplicate draft
    ]


def q1_prefixes() -> dict[tuple[str, tuple[str, ...]], PrefixRollouts]:
    ignores_value = ["She has 3 + 4 + 2 = <<3+4+2=9>>9 apples.", "#### 9"]
    return index_prefixes(
        [
            # P_1 of BAD_SECOND: positive; only GOOD[1:] is a correct *and* consistent target.
            row(GOOD[:1], [["Then 7 + 3 = <<7+3=10>>10.", "#### 10"], GOOD[1:], ignores_value]),
            row(BAD_SECOND[:2], [["#### 10"], ["#### 11"]]),
            row(BAD_FIRST[:1], [BAD_FIRST[1:], ignores_value]),  # correct but inconsistent
            row(BAD_FIRST[:2], [["#### 10"]]),
        ]
    )


def test_global_pairs_wrong_to_right_same_question_dedup() -> None:
    samples = [*q1_samples(), sample("q2", 0, TOM_BAD, False), sample("q2", 1, TOM_GOOD, True)]
    pairs = global_pairs(samples, cap_per_question=10, rng=random.Random(0))
    assert [(p.qid, p.draft, p.target) for p in pairs] == [
        ("q1", BAD_SECOND, GOOD),
        ("q1", BAD_FIRST, GOOD),
        ("q2", TOM_BAD, TOM_GOOD),
    ]
    assert all(p.kind == "global" and p.first_error is None for p in pairs)
    assert pairs[2].question == Q2


def test_global_pairs_cap_and_determinism() -> None:
    samples = [*q1_samples(), sample("q1", 4, GOOD_ALT, True)]
    full = global_pairs(samples, 10, random.Random(0))
    assert len(full) == 4
    capped = [global_pairs(samples, 2, random.Random(s)) for s in (3, 3)]
    assert capped[0] == capped[1]
    assert len(capped[0]) == 2 and all(p in full for p in capped[0])
    assert global_pairs(samples, 0, random.Random(0)) == []
    with pytest.raises(ValueError):
        global_pairs(samples, -1, random.Random(0))


def test_greedy_pairs_pair_an_incorrect_greedy_draft_with_each_correct_sample() -> None:
    samples = [*q1_samples(), sample("q1", 4, GOOD_ALT, True), sample("q2", 0, TOM_BAD, False)]
    drafts = [
        sample("q1", 0, BAD_FIRST, False),
        sample("q2", 0, TOM_BAD, False),  # no correct sample of q2: no pair
    ]
    pairs = greedy_pairs(drafts, samples, 10, random.Random(0))
    assert [(p.qid, p.draft, p.target) for p in pairs] == [
        ("q1", BAD_FIRST, GOOD),
        ("q1", BAD_FIRST, GOOD_ALT),
    ]
    assert all(p.kind == "global" and p.first_error is None for p in pairs)
    capped = greedy_pairs(drafts, samples, 1, random.Random(0))
    assert len(capped) == 1 and capped[0] in pairs
    assert greedy_pairs([sample("q1", 0, GOOD, True)], samples, 10, random.Random(0)) == []


def test_global_pairs_need_both_outcomes() -> None:
    only_wrong = [sample("q1", 0, BAD_FIRST, False), sample("q1", 1, BAD_SECOND, False)]
    assert global_pairs(only_wrong, 5, random.Random(0)) == []


def check_local(pair: RefinePair) -> None:
    assert pair.first_error is not None
    i = pair.first_error
    prompt = local_prompt(pair.question, pair.draft, i).text
    assert f"{BAD_MARKER} {pair.draft[i]}\n" in prompt
    assert prompt.count(BAD_MARKER) == 1
    kept = pair.draft[:i]
    before_bad = prompt.split(BAD_MARKER)[0]
    assert all(step in before_bad for step in kept)
    assert prompt.endswith("Revised answer:\n" + "".join(f"{s}\n" for s in kept))
    assert rollout_correct(kept, pair.target, Fraction(9))
    assert not rollout_correct(pair.draft, [], Fraction(9))


def test_local_pairs_mark_first_error() -> None:
    pairs = local_pairs(q1_samples(), q1_prefixes(), 10, random.Random(0))
    got = [(p.first_error, p.draft, p.target) for p in pairs]
    assert got == [
        (1, BAD_SECOND, GOOD[1:]),
        (1, [*BAD_SECOND[:2], "#### 11"], GOOD[1:]),
        (0, BAD_FIRST, GOOD),
    ]
    assert all(p.kind == "local" and p.qid == "q1" for p in pairs)
    for pair in pairs:
        check_local(pair)


def test_local_pairs_last_positive_prefix_wins() -> None:
    # P_1 negative but P_2 positive: after propagation the first error is step 2.
    steps = ["Mia now has 3 + 4 = 7 apples.", "Then she has 7 + 2 = 9 apples.", "#### 8"]
    prefixes = index_prefixes([row(steps[:1], [["#### 8"]]), row(steps[:2], [["#### 9"]])])
    samples = [sample("q1", 0, steps, False), sample("q1", 1, GOOD, True)]
    (pair,) = local_pairs(samples, prefixes, 10, random.Random(0))
    assert (pair.first_error, pair.target) == (2, ["#### 9"])
    check_local(pair)


def test_local_pairs_none_without_positive_prefix() -> None:
    prefixes = index_prefixes([row(BAD_FIRST[:1], [["#### 10"]]), row(BAD_FIRST[:2], [])])
    samples = [sample("q1", 0, BAD_FIRST, False)]
    assert local_pairs(samples, prefixes, 10, random.Random(0)) == []


def test_local_pairs_cap_determinism_and_missing_prefix() -> None:
    a = local_pairs(q1_samples(), q1_prefixes(), 2, random.Random(5))
    b = local_pairs(q1_samples(), q1_prefixes(), 2, random.Random(5))
    assert a == b and len(a) == 2
    prefixes = q1_prefixes()
    del prefixes[("q1", tuple(BAD_FIRST[:1]))]
    with pytest.raises(KeyError, match="no rollouts for question 'q1'"):
        local_pairs(q1_samples(), prefixes, 2, random.Random(5))


def test_greedy_local_pairs_apply_the_samples_rule_to_incorrect_drafts() -> None:
    """A greedy draft gets the pairs `local_pairs` would give it as a sample: its first
    error from its own prefixes' rollouts, and for an error at step 0 the question's
    correct samples as targets; a correct draft gives none."""
    samples = [sample("q1", 0, GOOD, True), sample("q1", 1, GOOD_ALT, True)]
    drafts = [sample("q1", 0, BAD_SECOND, False), sample("q1", 0, BAD_FIRST, False)]
    pairs = greedy_local_pairs(drafts, samples, q1_prefixes(), 10, random.Random(0))
    alone = [
        p for d in drafts for p in local_pairs([*samples, d], q1_prefixes(), 10, random.Random(0))
    ]
    assert pairs == alone
    assert [(p.first_error, p.target) for p in pairs] == [
        (1, GOOD[1:]),
        (1, GOOD[1:]),
        (0, GOOD),
        (0, GOOD_ALT),
    ]
    for pair in pairs:
        check_local(pair)
    right = [sample("q1", 0, GOOD, True)]
    assert greedy_local_pairs(right, samples, q1_prefixes(), 10, random.Random(0)) == []
    capped = greedy_local_pairs(drafts, samples, q1_prefixes(), 1, random.Random(0))
    assert len(capped) == 2  # per draft: a question has one greedy draft


def test_pair_summary() -> None:
    samples = [*q1_samples(), sample("q2", 0, TOM_BAD, False), sample("q2", 1, TOM_GOOD, True)]
    pairs = global_pairs(samples, 10, random.Random(0))
    pairs += local_pairs(q1_samples(), q1_prefixes(), 10, random.Random(0))
    summary = pair_summary(pairs)
    assert summary["pairs"] == 6
    assert summary["by_kind"] == {"global": 3, "local": 3}
    assert summary["questions"] == 2
    assert summary["questions_by_kind"] == {"global": 2, "local": 1}
    assert summary["first_error"] == {0: 1, 1: 2}
    assert pair_summary([])["pairs"] == 0
