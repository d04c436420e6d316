"""The local-reach probe on the committed store: a few questions, the invariants that must
hold whatever the models answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.config import EvalConfig
from evaluation.inputs import load_problems
from evaluation.local_reach import Row, main, probe_rows, summarise
from glore import GLoRe

STORE = Path(__file__).resolve().parents[2] / "model_store" / "default"


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    problems = load_problems(EvalConfig(split="validation", questions=6, reward_questions=1))
    engine = GLoRe.from_pretrained(STORE)
    return probe_rows(engine, problems[:6], k=2, max_tokens=256, seed=0)


def test_each_draft_is_probed_where_it_can_be(rows: list[Row]) -> None:
    assert len(rows) == 6
    for row in rows:
        if row.right:
            assert row.exact_place is None and row.local_at == () and not row.reach
            assert row.reach_share == 0.0
            continue
        for place in (row.sorm_place, row.exact_place):
            assert place is None or 0 <= place < len(row.local_at)
        if row.fixed_at(row.sorm_place) or row.fixed_at(row.exact_place):
            assert any(row.local_at)
        assert row.reach_share * 2 in {0, 1, 2}  # the share of k=2 rollouts


def test_the_counts_hold_together(rows: list[Row]) -> None:
    r = summarise(rows)
    assert r["questions"] == 6 and r["wrong_drafts"] + r["right_drafts"] == 6
    assert r["local_fix_sorm_place"] <= r["local_fix_any_place"]
    assert r["local_fix_exact_place"] <= r["local_fix_any_place"]
    places = r["sorm_equals_exact"] + r["sorm_before_exact"] + r["sorm_after_exact"]
    assert places <= r["wrong_drafts"]
    for name in ("local_fix_any_place", "student_reach_from_exact_prefix", "engine_local_fixes"):
        assert r[name] <= r["wrong_drafts"]
    assert r["global_fixes"] + r["global_same_answer"] <= r["wrong_drafts"]
    assert r["engine_local_fixes"] + r["local_same_answer"] <= r["wrong_drafts"]
    assert r["local_repeats_bad_step"] <= r["wrong_drafts"]
    # One rollout's expected fixes cannot exceed the drafts any of the k rollouts fixes.
    assert r["student_one_rollout_from_exact_prefix"] <= r["student_reach_from_exact_prefix"]
    assert r["global_keeps_right"] <= r["right_drafts"]
    assert r["local_keeps_right"] <= r["right_drafts"]
    assert set(r["rates"]) < set(r)
    assert all(v is None or 0.0 <= v <= 1.0 for v in r["rates"].values())


def test_the_command_prints_and_writes_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reach.json"
    main(["--store", str(STORE), "--questions", "2", "--k", "1", "--out", str(out)])
    report = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == report
    assert report["questions"] == 2
    assert report["meta"] == {
        "store": str(STORE),
        "split": "validation",
        "k": 1,
        "seed": 0,
        "max_tokens": 256,
    }


def _wrong(sorm: int | None, exact: int | None, local_at: tuple[bool, ...]) -> Row:
    return Row(False, sorm, False, False, False, exact, local_at)


def test_a_fix_at_either_place_is_a_fix_at_some_place() -> None:
    rows = [
        _wrong(0, 1, (False, True, False)),
        _wrong(2, 2, (False, False, True)),
        _wrong(1, 0, (False, False)),
        _wrong(None, None, ()),
        Row(True, 0, True, True, False),
        Row(False, 1, False, False, False, 1, (False, False), local_same=True, local_repeats=True),
    ]
    for row in rows[:4]:
        fixed = row.fixed_at(row.sorm_place) or row.fixed_at(row.exact_place)
        assert not fixed or any(row.local_at)
    r = summarise(rows)
    assert (r["wrong_drafts"], r["right_drafts"]) == (5, 1)
    assert r["local_same_answer"] == r["local_repeats_bad_step"] == 1
    assert (r["local_fix_sorm_place"], r["local_fix_exact_place"], r["local_fix_any_place"]) == (
        1,
        2,
        2,
    )
    assert (r["sorm_equals_exact"], r["sorm_before_exact"], r["sorm_after_exact"]) == (2, 1, 1)
    assert r["global_keeps_right"] == 1 and r["local_keeps_right"] == 0
    assert r["rates"]["local_fix_any_place"] == 0.4
    assert r["rates"]["student_one_rollout_from_exact_prefix"] == 0.0
