"""The report statistics on hand-made numbers."""

import random

import pytest

from evaluation.metrics import (
    bootstrap_mean,
    bootstrap_paired_delta,
    expected_calibration_error,
    first_below,
    localisation,
    reliability,
)


def test_bootstrap_interval_brackets_the_mean_and_is_seeded() -> None:
    values = [1.0] * 30 + [0.0] * 70
    a = bootstrap_mean(values, 500, seed=1)
    assert a.mean == pytest.approx(0.3)
    assert a.low < 0.3 < a.high
    # Binomial standard error sqrt(.3*.7/100) = 0.046: the interval is about +-0.09.
    assert 0.05 < a.high - a.low < 0.25
    assert bootstrap_mean(values, 500, seed=1) == a


def test_a_constant_has_a_zero_width_interval() -> None:
    a = bootstrap_mean([1.0] * 10, 100, seed=0)
    assert (a.low, a.mean, a.high) == (1.0, 1.0, 1.0)


def test_paired_delta_resamples_questions_together() -> None:
    a = [1.0, 0.0, 1.0, 1.0]
    d = bootstrap_paired_delta(a, a, 200, seed=0)
    assert (d.low, d.mean, d.high) == (0.0, 0.0, 0.0)  # unpaired resampling would spread
    with pytest.raises(ValueError, match="differ in length"):
        bootstrap_paired_delta(a, a[:2], 10, seed=0)


def test_calibrated_predictions_have_small_ece_and_overconfident_large() -> None:
    rng = random.Random(0)
    probs = [rng.random() for _ in range(20000)]
    labels = [rng.random() < p for p in probs]
    assert expected_calibration_error(probs, labels) < 0.02
    assert expected_calibration_error([0.95] * 100, [True] * 50 + [False] * 50) == pytest.approx(
        0.45
    )


def test_reliability_bins_count_every_point_once() -> None:
    probs = [0.0, 0.05, 0.5, 0.99, 1.0]
    bins = reliability(probs, [False, False, True, True, True], bins=10)
    assert sum(b["count"] for b in bins) == len(probs)
    assert bins[-1]["count"] == 2 and bins[-1]["observed"] == 1.0


def test_first_below_and_localisation() -> None:
    assert first_below([0.9, 0.4, 0.1], 0.5) == 1
    assert first_below([0.9, 0.6], 0.5) is None
    # truth: error at 1, error at 0, none, error at 2; predicted: 1 (hit), 2 (miss), 0 (false
    # alarm), None (missed).
    m = localisation([1, 2, 0, None], [1, 0, None, 2])
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx(1 / 3)
    assert m["exact"] == pytest.approx(1 / 4)
    assert (m["flagged"], m["with_error"], m["solutions"]) == (3, 3, 4)


def test_ranking_counts_right_above_wrong_within_each_question() -> None:
    from evaluation.refine_report import RowRun, ranking

    run = RowRun(
        candidates=[
            {"draft": True, "global": False, "local": False},  # right above both: 2 of 2
            {"draft": False, "global": True},  # right below wrong: 0 of 1
            {"draft": True, "global": True},  # no (right, wrong) pair
            {"draft": False, "local": True},  # a tie counts half
        ],
        orm=[
            {"draft": 0.9, "global": 0.2, "local": 0.1},
            {"draft": 0.8, "global": 0.3},
            {"draft": 0.5, "global": 0.5},
            {"draft": 0.4, "local": 0.4},
        ],
    )
    assert ranking(run) == {"pairs": 4, "right_above_wrong": 2.5 / 4}
    assert ranking(RowRun())["right_above_wrong"] is None
