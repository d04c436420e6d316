"""`glore eval` end to end on a small slice of the committed default store: both reports,
every strategy row, the files, and numbers checked against an independent recount."""

import importlib.util
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from evaluation.config import ROWS, EvalConfig
from evaluation.inputs import store_hash
from evaluation.run import evaluate
from glore import GLoRe, __version__
from glore.engine.loading import ROLES
from glore.tasks.arith import ArithTask

STORE = Path(__file__).resolve().parents[2] / "model_store" / "default"
SMALL = {"questions": 4, "reward_questions": 2, "reward_samples": 2, "k_eval": 4}
SMALL |= {"batch": 4, "bootstrap": 50, "max_tokens": 160, "seed": 3}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("eval")
    evaluate(EvalConfig(**SMALL), STORE, out)  # type: ignore[arg-type]
    return out, json.loads((out / "report.json").read_text())


def test_the_run_folder_holds_json_markdown_and_plots(run: tuple[Path, dict[str, Any]]) -> None:
    out, data = run
    for png in ("reliability.png", "accuracy_tokens.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert data["meta"]["plots"] == ["reliability.png", "accuracy_tokens.png"]
    md = (out / "report.md").read_text()
    assert "## Reward models" in md and "## Refinement" in md and "| oracle |" in md


def test_the_json_says_how_it_was_made(run: tuple[Path, dict[str, Any]]) -> None:
    meta = run[1]["meta"]
    assert (meta["seed"], meta["split"], meta["task"]) == (3, "test", "arith/test")
    assert meta["store_hash"] == store_hash(STORE) and len(meta["store_hash"]) == 64
    assert meta["glore_version"] == __version__
    assert meta["config"]["k_eval"] == 4
    assert meta["task_seed"] == 0
    # auto: CTranslate2 runs the greedy calls where the `ct2` extra is installed
    ct2 = importlib.util.find_spec("ctranslate2") is not None
    assert meta["student_backend"] == ("GreedyOnCt2" if ct2 else "EmbeddedGenerator")


def test_every_row_is_reported_and_greedy_matches_a_recount(
    run: tuple[Path, dict[str, Any]],
) -> None:
    refine = run[1]["refine"]
    rows = {r["row"]: r for r in refine["rows"]}
    assert list(rows) == [*ROWS, "oracle"]
    problems = ArithTask().load("test", 4)
    results = GLoRe.from_pretrained(STORE).solve_batch([p.question for p in problems], "greedy")
    right = [
        r.answer is not None and Fraction(r.answer) == p.answer
        for p, r in zip(problems, results, strict=True)
    ]
    assert rows["greedy"]["accuracy"] == sum(right) / 4
    # The oracle holds the draft and every candidate the glore row reranked.
    assert rows["oracle"]["accuracy"] >= max(rows["glore"]["accuracy"], rows["greedy"]["accuracy"])
    for r in rows.values():
        assert r["ci95"][0] <= r["accuracy"] <= r["ci95"][1]
        assert r["tokens_per_question"] > 0
    assert rows["greedy"]["delta_vs_greedy"] == 0.0
    assert rows["glore"]["tokens_per_question"] > rows["greedy"]["tokens_per_question"]
    o = refine["overlap"]
    assert o["wrong_drafts"] == 4 - sum(right)
    assert max(o["global_fixes"], o["local_fixes"]) <= o["either"] <= o["wrong_drafts"]
    abstention = refine["abstention"]
    assert abstention["curve"][0]["coverage"] == 1.0  # threshold 0 answers everything
    assert abstention["curve"][0]["accuracy"] == rows["glore"]["accuracy"]
    coverages = [p["coverage"] for p in abstention["curve"]]
    assert coverages == sorted(coverages, reverse=True)
    checked = refine["checked"]
    assert checked["wrong_drafts"] == o["wrong_drafts"]
    assert checked["wrong_caught"] <= checked["wrong_drafts"]
    assert checked["right_flagged"] <= checked["right_drafts"] == sum(right)
    rank = refine["ranking"]
    # A share exactly when some question had a right and a wrong candidate.
    assert (rank["right_above_wrong"] is None) == (rank["pairs"] == 0)
    assert rank["right_above_wrong"] is None or 0.0 <= rank["right_above_wrong"] <= 1.0


def test_the_reward_report_scores_both_models_on_both_label_sources(
    run: tuple[Path, dict[str, Any]],
) -> None:
    reward = run[1]["reward"]
    assert reward["label_sources"] == ["rollout", "exact"]
    assert reward["questions"] == 2 and reward["samples"] == 4
    assert 0.0 <= reward["agreement"]["agreement"] <= 1.0
    for d in reward["sorm_minus_orm"].values():
        assert -1.0 <= d["low"] <= d["delta"] <= d["high"] <= 1.0
    for name in ("orm", "sorm"):
        for source in ("rollout", "exact"):
            m = reward["models"][name][source]
            assert m["final"]["steps"] == reward["samples"]
            assert m["intermediate"]["steps"] == reward["agreement"]["steps"]
            assert 0.0 <= m["ece"] <= 1.0
            assert m["first_error"]["solutions"] == reward["samples"]


def test_gsm8k_from_a_file_runs_on_the_tiny_default(tmp_path: Path) -> None:
    path = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gsm8k" / "test.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is missing: this test needs the MIT-licensed GSM8K copy (as in CI)")
    cfg = EvalConfig(
        task="gsm8k",
        data=str(path),
        questions=2,
        reward_questions=1,
        reward_samples=1,
        k_eval=2,
        rows=("greedy", "glore"),
        batch=2,
        bootstrap=20,
        max_tokens=64,
    )
    data = evaluate(cfg, STORE, tmp_path)
    assert data["meta"]["task"] == "gsm8k/test"
    assert data["reward"]["label_sources"] == ["rollout"]  # GSM8K has no true step values
    assert [r["row"] for r in data["refine"]["rows"]] == ["greedy", "glore", "oracle"]
    assert (tmp_path / "report.md").is_file()


def test_a_spec_file_serves_as_the_store(tmp_path: Path) -> None:
    """Remote endpoints come as a spec file (here naming local folders, so it runs on a
    CPU); the report's store hash is then the spec file's."""
    import hashlib

    spec = tmp_path / "spec.yaml"
    spec.write_text("".join(f"{role}: {{path: {STORE / role}}}\n" for role in ROLES))
    cfg = EvalConfig(
        questions=2, reports=("refine",), rows=("greedy", "global"), batch=2, bootstrap=20
    )
    data = evaluate(cfg, spec, tmp_path / "run")
    assert data["meta"]["store_hash"] == hashlib.sha256(spec.read_bytes()).hexdigest()
    assert [r["row"] for r in data["refine"]["rows"]] == ["greedy", "global"]
    assert "overlap" not in data["refine"]  # only the glore row has the candidates for it
