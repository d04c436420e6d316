"""Abstention's curve and threshold, from hand-made (right, ORM score) answers."""

import pytest

from evaluation.abstention import at, choose_threshold, curve
from evaluation.calibrate import Scored, calibrate

ANSWERS = [(True, 0.9), (True, 0.6), (False, 0.5), (False, 0.2), (True, 0.1)]


def test_the_curve_trades_coverage_for_accuracy() -> None:
    points = {p["threshold"]: p for p in curve(ANSWERS, (0.0, 0.3, 0.55, 0.95))}
    assert points[0.0] == {"threshold": 0.0, "coverage": 1.0, "accuracy": 0.6}
    assert points[0.3] == {
        "threshold": 0.3,
        "coverage": 0.6,
        "accuracy": pytest.approx(0.6667, abs=1e-4),
    }
    assert points[0.55] == {"threshold": 0.55, "coverage": 0.4, "accuracy": 1.0}
    assert points[0.95] == {"threshold": 0.95, "coverage": 0.0, "accuracy": None}


def test_the_lowest_threshold_that_reaches_the_target_is_chosen() -> None:
    chosen = choose_threshold(ANSWERS, target=0.9, grid=(0.0, 0.3, 0.55, 0.6))
    assert chosen["abstain_below"] == 0.55 and chosen["reached"] and chosen["coverage"] == 0.4
    never = choose_threshold([(False, 0.9), (False, 0.1)], target=0.5, grid=(0.0, 0.5))
    assert never["abstain_below"] == 0.0 and not never["reached"]
    assert at(ANSWERS, 0.55)["accuracy"] == 1.0


def test_calibrate_chooses_the_threshold_on_the_answers_at_its_margin() -> None:
    rows = [
        [Scored("draft", True, 0.9), Scored("global", False, 0.95)],
        [Scored("draft", False, 0.2), Scored("global", True, 0.1)],
    ]
    report, section = calibrate(rows, min_gain=0.01, rerank_by="orm", abstain_target=1.0)
    assert section["rerank_margin"] == 1.0  # the ORM cannot rank: the draft is kept
    assert section["abstain_below"] == 0.25 and report["abstention"]["coverage"] == 0.5
    _, without = calibrate(rows, min_gain=0.01, rerank_by="orm", abstain_target=None)
    assert "abstain_below" not in without
