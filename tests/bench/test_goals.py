"""The goal table read off a `glore bench engine` report: each row's value comes from the
report's own part, the bound's direction is the issue's, and a missing part says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.goals import GOALS, format_goals, goal_rows

DOCS = Path(__file__).resolve().parents[2] / "docs" / "bench-engine.json"


def _report(rollouts: float, decode64: float, concurrency: float, always: float) -> dict[str, Any]:
    return {
        "rollouts": {
            "speedup": rollouts,
            "rollouts_per_s": 50.0 * rollouts,
            "baseline_rollouts_per_s": 50.0,
        },
        "decode": [
            {"batch": 8, "scheduler": {"fraction_of_matmul_peak": 0.99}},
            {"batch": 64, "scheduler": {"fraction_of_matmul_peak": decode64}},
        ],
        "concurrency": {"speedup": concurrency, "questions": 64},
        "modes": {"always": {"wall_vs_draft": always}},
        "training": {
            "settings": {
                "random": {"tokens_per_s": 1000.0, "speedup": 1.0},
                "grouped": {"tokens_per_s": 2500.0, "speedup": 2.5},
                "grouped_bf16": {"skipped": "bf16 matmul is not faster"},
            }
        },
    }


def test_rows_read_their_parts_and_bounds_point_the_issues_way() -> None:
    rows = goal_rows(_report(rollouts=6.0, decode64=0.3, concurrency=8.0, always=2.5))
    assert [r["goal"] for r in rows] == [g.name for g in GOALS]
    assert [r["value"] for r in rows] == [6.0, 0.3, 8.0, 2.5, 2.5]  # decode: batch 64's row
    assert [r["met"] for r in rows] == [True, False, True, False, True]
    assert rows[3]["bound"] == "<= 2.00x"  # wall time must stay under; the rest must reach
    assert rows[4]["detail"] == "grouped 2,500 vs random 1,000 tok/s"
    fast = goal_rows(_report(rollouts=4.99, decode64=0.4, concurrency=7.9, always=2.0))
    assert [r["met"] for r in fast] == [False, True, False, True, True]


def test_each_row_shows_its_ceiling_and_whether_the_goal_is_within_it() -> None:
    report = _report(rollouts=2.0, decode64=0.1, concurrency=3.0, always=3.0)
    report["ceilings"] = {
        "rollouts": {"value": 6.0},
        "decode_64": {"value": 0.3},
        "always": {"value": 2.5},
    }
    rows = goal_rows(report)
    assert [r["ceiling"] for r in rows] == [6.0, 0.3, None, 2.5, None]
    assert [r["reachable"] for r in rows] == [True, False, None, False, None]
    lines = format_goals(report).splitlines()
    assert "ceiling here" in lines[0] and "6.00x" in lines[1] and "30%" in lines[2]


def test_a_missing_part_is_not_measured_rather_than_failed() -> None:
    report = _report(1.0, 0.1, 1.0, 3.0)
    del report["training"], report["decode"][1]
    rows = goal_rows(report)
    assert rows[1]["value"] is None and rows[1]["met"] is None
    assert rows[4]["value"] is None and rows[4]["met"] is None
    lines = format_goals(report).splitlines()
    assert len(lines) == 1 + len(GOALS)
    assert "not measured" in lines[2] and "not measured" in lines[5]


def test_the_committed_bench_report_gives_a_table() -> None:
    report = json.loads(DOCS.read_text())
    rows = goal_rows(report)
    assert rows[0]["value"] == report["rollouts"]["speedup"]
    assert rows[3]["value"] == report["modes"]["always"]["wall_vs_draft"]
    text = format_goals(report)
    assert all(g.name in text for g in GOALS)
