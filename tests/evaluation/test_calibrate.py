"""The safety rule's margin, chosen from one run's candidates (hand-made scores)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.calibrate import (
    Scored,
    accuracy_at,
    calibrate,
    choose_floor,
    choose_margin,
    heldout,
    outcomes,
    overlap,
    scored,
    write_manifest,
)
from glore.engine.rules import Guard
from glore.errors import ConfigError, InvalidInputError


def q(draft: tuple[bool, float], *others: tuple[bool, float]) -> list[Scored]:
    names = ["global", "local"]
    return [Scored("draft", *draft), *(Scored(names[i], *o) for i, o in enumerate(others))]


def test_an_orm_that_cannot_rank_keeps_the_draft() -> None:
    # a wrong refinement always scores a little higher than a right draft
    questions = [q((True, 0.5), (False, 0.6)), q((False, 0.5), (True, 0.55))] * 5
    chosen = choose_margin(questions)
    assert chosen["greedy_accuracy"] == 0.5
    assert chosen["rerank_margin"] == 1.0 and chosen["accuracy"] == 0.5
    assert chosen["curve"][0] == {"margin": 0.0, "accuracy": 0.5, "switched": 1.0}


def test_an_orm_that_ranks_gets_the_best_margin_and_ties_take_the_larger() -> None:
    questions = [
        q((False, 0.2), (True, 0.93)),  # a big, right gain: margins up to 0.7 take it
        q((True, 0.5), (False, 0.62)),  # a small, wrong gain: a margin of 0.15 refuses it
        q((True, 0.8), (False, 0.1)),
    ]
    chosen = choose_margin(questions)
    assert chosen["accuracy"] == 1.0
    assert chosen["rerank_margin"] == 0.7  # the largest margin still taking the right gain
    assert chosen["greedy_accuracy"] == pytest.approx(0.6667)


def test_outcomes_count_fixes_breaks_and_ranking() -> None:
    questions = [q((False, 0.2), (True, 0.9)), q((True, 0.5), (False, 0.62))]
    at0 = outcomes(questions, Guard(0.0))
    assert (at0["fix_rate"], at0["break_rate"], at0["accuracy"]) == (1.0, 1.0, 0.5)
    assert at0["ranking"] == 0.5 and at0["ranking_pairs"] == 2 and at0["oracle"] == 1.0
    safe = outcomes(questions, Guard(0.2))
    assert (safe["fix_rate"], safe["break_rate"], safe["accuracy"]) == (1.0, 0.0, 1.0)


def test_the_margin_goes_into_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"name": "s", "heldout": {}}))
    write_manifest(tmp_path, {"rerank_margin": 0.3})
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert data == {"name": "s", "heldout": {}, "engine": {"rerank_margin": 0.3}}
    with pytest.raises(ConfigError, match="no manifest"):
        write_manifest(tmp_path / "none", {})


def test_a_gain_below_the_minimum_keeps_the_draft() -> None:
    # one question of 100 won at margin 0: below the one-point minimum only when it is 0.02
    questions = [q((False, 0.2), (True, 0.9))] + [q((True, 0.8), (False, 0.1))] * 99
    assert choose_margin(questions)["rerank_margin"] < 1.0  # +1 point: enough by default
    assert choose_margin(questions, min_gain=0.02)["rerank_margin"] == 1.0


def test_the_checked_rerank_drops_failing_candidates_then_the_margin_guards_the_draft() -> None:
    # The draft is wrong and fails the check; global is right and passes but scores lower.
    failing = [Scored("draft", False, 0.9, False), Scored("global", True, 0.2, True)]
    passing = [Scored("draft", True, 0.3, True), Scored("global", False, 0.8, True)]
    questions = [failing, passing]
    assert accuracy_at(questions, Guard(1.0)) == (0.5, 0.0)  # the ORM alone keeps every draft
    assert accuracy_at(questions, Guard(1.0), "checked") == (1.0, 0.5)  # only the failing one
    assert accuracy_at(questions, Guard(0.0), "checked") == (0.5, 1.0)  # argmax still breaks one
    chosen = choose_margin(questions, rerank_by="checked")
    assert chosen["rerank_margin"] >= 0.5 and chosen["accuracy"] == 1.0


def test_the_floor_is_the_largest_that_costs_nothing_on_validation() -> None:
    questions = [
        q((False, 0.1), (True, 0.6)),  # a confident, right refinement: floors up to 0.6 keep it
        q((True, 0.1), (False, 0.3)),  # an unsure, wrong one: floors above 0.3 refuse it
        q((False, 0.05), (True, 0.2)),  # an unsure, right one: floors above 0.2 lose it
    ]
    chosen = choose_floor(questions, margin=0.0)
    assert chosen["rerank_floor"] == 0.6  # 0.25-0.6 trade the unsure win for the unsure loss
    assert chosen["floor_curve"][0] == {"floor": 0.0, "accuracy": round(2 / 3, 4), "switched": 1.0}
    assert choose_floor(questions, margin=1.0)["rerank_floor"] == 0.0  # drafts kept anyway
    # without the unsure loss, a floor above 0.2 costs the unsure win: 0.2 is the largest free
    assert choose_floor([questions[0], questions[2]], margin=0.0)["rerank_floor"] == 0.2


def test_calibrate_keeps_the_margin_and_the_floor_and_reports_them() -> None:
    questions = [q((False, 0.1), (True, 0.6)), q((True, 0.1), (False, 0.3))] * 5
    report, section = calibrate(questions, min_gain=0.01, rerank_by="orm", abstain_target=None)
    # margins 0.2-0.45 refuse the wrong gain (the largest is kept); at 0.45 floors up to 0.6
    assert section["rerank_margin"] == 0.45 and section["rerank_floor"] == 0.6
    assert report["at_margin"]["accuracy"] == 1.0 and report["at_margin"]["floor"] == 0.6
    assert report["argmax"]["accuracy"] == 0.5


def test_scored_runs_the_exact_check_on_the_cached_steps() -> None:
    question = "Mia has 3 apples. Mia buys 4 more apples. How many apples does Mia have?"
    steps = {"draft": ["Mia has 3 + 4 = 8 apples.", "#### 8"], "global": ["3 + 4 = 7", "#### 7"]}
    cache = [
        {
            "question": question,
            "candidates": [
                {"name": n, "steps": s, "right": n == "global", "orm_score": 0.5}
                for n, s in steps.items()
            ],
        }
    ]
    ((draft, glob),) = scored(cache)
    assert not draft.arithmetic_ok and glob.arithmetic_ok


def test_calibration_reads_the_validation_split_of_a_dataset(
    tmp_path: Path, shared_data: Path
) -> None:
    """`glore calibrate --task gsm8k`: the questions are the recipes' held-out validation
    split (never train or test), and the cache's key names the task and its data."""
    from typer.testing import CliRunner

    from glore.cli import app
    from glore.tasks.splits import HeldOutSplits

    data = str(shared_data / "gsm8k")
    cache = tmp_path / "val.json"
    store = Path(__file__).resolve().parents[2] / "model_store" / "default"
    args = ["calibrate", "--store", str(store), "--task", "gsm8k", "--data", data]
    args += ["--questions", "2", "--candidates", str(cache), "--batch", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    saved = json.loads(cache.read_text())
    assert saved["key"]["task"] == "gsm8k" and saved["key"]["data"] == data
    validation = [p.question for p in HeldOutSplits("gsm8k", Path(data)).load("validation", 2)]
    assert [item["question"] for item in saved["questions"]] == validation


def test_calibration_refuses_a_task_or_dataset_it_cannot_read(tmp_path: Path) -> None:
    from evaluation.inputs import validation_problems
    from glore.errors import DatasetError, InvalidInputError

    with pytest.raises(InvalidInputError, match="task must be one of arith, gsm8k, svamp"):
        validation_problems("mmlu", None, 3)
    with pytest.raises(InvalidInputError, match="pass its path"):
        validation_problems("svamp", None, 3)
    with pytest.raises(DatasetError, match="does not exist"):
        validation_problems("gsm8k", str(tmp_path / "nope"), 3)
    assert len(validation_problems("arith", None, 3)) == 3


def test_overlap_counts_each_refinement_and_the_union_on_wrong_drafts_only() -> None:
    questions = [
        q((False, 0.2), (True, 0.9), (True, 0.8)),  # both refinements fix it
        q((False, 0.2), (False, 0.9), (True, 0.1)),  # only local, scored low
        q((False, 0.2), (False, 0.9), (False, 0.1)),  # neither
        q((True, 0.5), (True, 0.9), (False, 0.1)),  # a right draft: not counted
    ]
    got = overlap(questions)
    assert got == {"wrong_drafts": 3, "global_fixes": 1, "local_fixes": 2, "both": 1, "either": 2}


def test_heldout_judges_the_guard_chosen_on_the_first_questions_on_the_rest() -> None:
    # the first half says a refinement scored 0.6 over a draft at 0.1 is right; the second
    # half has the same scores with the opposite outcome, so the held-out guard loses there
    first = [q((False, 0.1), (True, 0.6)), q((True, 0.5), (False, 0.55))] * 3
    second = [q((True, 0.1), (False, 0.6))] * 4
    got = heldout(first + second, 6, min_gain=0.01, rerank_by="orm")
    assert (got["choose_on"], got["questions"], got["greedy_accuracy"]) == (6, 4, 1.0)
    chosen = calibrate(first, min_gain=0.01, rerank_by="orm", abstain_target=None)[1]
    assert got["at_margin"]["margin"] == chosen["rerank_margin"] < 0.5
    assert got["at_margin"]["accuracy"] == 0.0 and got["at_margin"]["break_rate"] == 1.0
    assert got["argmax"]["accuracy"] == 0.0
    assert got["overlap"]["wrong_drafts"] == 0 and got["overlap"]["either"] == 0
    with pytest.raises(InvalidInputError, match="choose_on"):
        heldout(first, 6, min_gain=0.01, rerank_by="orm")


def test_the_command_reports_held_out_numbers_from_cached_candidates(tmp_path: Path) -> None:
    """`glore calibrate --choose-on N` on a candidates file: no model is loaded."""
    from typer.testing import CliRunner

    from glore.cli import app

    def cand(name: str, right: bool, score: float) -> dict[str, object]:
        return {"name": name, "steps": ["1 + 1 = <<1+1=2>>2"], "right": right, "orm_score": score}

    store = tmp_path / "store"
    fix = [cand("draft", False, 0.1), cand("global", True, 0.6), cand("local", False, 0.2)]
    keep = [cand("draft", True, 0.5), cand("global", False, 0.55), cand("local", True, 0.4)]
    cache = tmp_path / "val.json"
    key = {"store": str(store), "questions": 4, "options": {"mode": "always"}}
    questions = [{"question": f"q{i}", "candidates": c} for i, c in enumerate([fix, keep] * 2)]
    cache.write_text(json.dumps({"key": key, "questions": questions}))
    args = ["calibrate", "--store", str(store), "--questions", "4", "--candidates", str(cache)]
    result = CliRunner().invoke(app, [*args, "--choose-on", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["overlap"] == {
        "wrong_drafts": 2,
        "global_fixes": 2,
        "local_fixes": 0,
        "both": 0,
        "either": 2,
    }
    assert report["heldout"]["questions"] == 2 and report["heldout"]["at_margin"]["accuracy"] == 1.0
    refused = CliRunner().invoke(app, [*args, "--choose-on", "4"])
    assert refused.exit_code != 0 and "choose_on must be in 1..3" in str(refused.exception)
