"""The whole pipeline on the committed embedded default, `model_store/default`."""

import json
from pathlib import Path
from typing import Any

import pytest

from glore import GLoRe
from glore.engine.strategies import STRATEGIES
from glore.tasks.arith import ArithTask

STORE = Path(__file__).resolve().parents[3] / "model_store" / "default"
QUESTIONS = [p.question for p in ArithTask().load("validation", 6)]


@pytest.fixture(scope="module")
def engine() -> GLoRe:
    return GLoRe.from_pretrained(STORE)


def test_glore_on_the_default_store(engine: GLoRe) -> None:
    result = engine.solve(QUESTIONS[0])
    names = [c.name for c in result.candidates]
    assert names[0] == "draft" and set(names) <= {"draft", "global", "local"}
    draft = result.candidate("draft")
    assert draft.sorm_values is not None and len(draft.sorm_values) == len(draft.steps)
    assert all(0.0 <= v <= 1.0 for v in draft.sorm_values)
    assert draft.first_error is not None and 0 <= draft.first_error < len(draft.steps)
    if "local" in names:  # the local refinement keeps the draft's steps before the error
        local = result.candidate("local")
        assert local.steps[: draft.first_error] == draft.steps[: draft.first_error]
    assert result.winner in names and result.answer == result.candidate(result.winner).answer
    assert result.models["student"].startswith("default/student")
    assert {"draft", "orm", "sorm"} <= set(result.stages)
    json.dumps(result.to_json())


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_runs_a_batch(engine: GLoRe, strategy: str) -> None:
    results = engine.solve_batch(QUESTIONS[:3], strategy, best_of=2, rounds=2)
    assert [r.question for r in results] == QUESTIONS[:3]
    assert all(r.strategy == strategy and r.candidates for r in results)


def test_gated_mode_refines_no_more_than_always(engine: GLoRe) -> None:
    gated = engine.solve_batch(QUESTIONS, mode="gated", tau_when=0.5)
    for r in gated:
        assert r.refined == (r.candidate("draft").orm_score < 0.5)


def test_overlapping_stages_changes_nothing_but_the_time(engine: GLoRe) -> None:
    overlapped = engine.solve_batch(QUESTIONS, mode="always")
    staged = engine.solve_batch(QUESTIONS, mode="always", overlap=False)
    for a, b in zip(overlapped, staged, strict=True):
        assert (a.answer, a.winner) == (b.answer, b.winner)
        assert [(c.name, c.steps) for c in a.candidates] == [
            (c.name, c.steps) for c in b.candidates
        ]
        for x, y in zip(a.candidates, b.candidates, strict=True):
            assert x.orm_score == pytest.approx(y.orm_score, abs=1e-6)


def test_critique_of_a_students_free_text(engine: GLoRe) -> None:
    problem = ArithTask().load("validation", 1)[0]
    steps = [s.replace("<<", "").split("=")[0] for s in problem.solution.reasoning]
    working = "\n".join([*steps[:-1], "so the answer is 1234"])
    for reveal in ("location", "step", "full"):
        c = engine.critique(problem.question, working, reveal=reveal)
        assert len(c.step_values) == len(c.steps) == len(steps)
        assert 0.0 <= c.orm_confidence <= 1.0
        if reveal == "location":
            assert c.corrected_step is None and c.corrected_solution is None
        if reveal != "full":
            assert c.corrected_answer is None and c.corrected_solution is None


def test_a_plain_working_is_judged_as_the_models_would_write_it(engine: GLoRe) -> None:
    """A student's working without calculator annotations: the reward models read it with
    them, so a right plain working is not flagged, and a plain slip is found where it is."""
    question = (
        "Mia has 12 apples. Each bag holds 6 apples. Mia buys 3 bags of apples. "
        "How many apples does Mia have now?"
    )
    right = "The 3 bags hold 3 x 6 = 18 apples.\nMia now has 12 + 18 = 30 apples.\n#### 30"
    slip = right.replace("= 30", "= 31").replace("#### 30", "#### 31")
    good, bad = engine.critique(question, right), engine.critique(question, slip)
    assert good.first_error is None and good.steps == right.split("\n")
    assert (bad.first_error, bad.source) == (1, "arithmetic")
    assert good.step_values[0] == pytest.approx(bad.step_values[0])  # the same first step
    assert good.orm_confidence > bad.orm_confidence


def test_refiners_naming_one_model_share_its_batches(tmp_path: Path) -> None:
    import yaml

    roles = {r: {"path": str(STORE / r)} for r in ("student", "orm", "sorm", "global")}
    roles["local"] = roles["global"]  # one refiner trained for both jobs
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(roles))
    # The torch scheduler joins concurrent calls into one decode (CTranslate2, the greedy
    # engine where installed, runs each call as its own batch: tests/glore/backends/test_ct2.py).
    engine = GLoRe.from_pretrained(spec, greedy_engine="torch")
    refiner: Any = engine.models.global_refiner
    assert refiner is engine.models.local_refiner
    before = refiner.scheduler.runs
    result = engine.solve(QUESTIONS[0], mode="always")
    assert [c.name for c in result.candidates] == ["draft", "global", "local"]
    assert refiner.scheduler.runs - before == 1  # both refinements joined one running decode


def test_a_likelihood_orm_and_sorm_on_one_base_share_its_passes(tmp_path: Path) -> None:
    """The store's ORM and SORM are the same base with two heads: the loader gives them one
    model, and the SORM reads the passes the ORM ran, to the probabilities a SORM loaded
    on its own gives. A SORM on other weights keeps its own model."""
    import shutil

    import yaml
    from transformers import AutoModelForCausalLM

    from glore.backends.embedded.scorers import open_scorer

    engine = GLoRe.from_pretrained(STORE)
    orm: Any = engine.models.orm
    sorm: Any = engine.models.sorm
    assert sorm.model is orm.model and sorm.head != orm.head
    drafts = [r.candidates[0] for r in engine.solve_batch(QUESTIONS, "greedy")]
    items = [(q, d.steps) for q, d in zip(QUESTIONS, drafts, strict=True)]
    alone = open_scorer(STORE / "sorm", prefix_cache_mb=0).score_sync(items)
    orm.score_sync(items)
    held = sorm.shared.tokens
    assert held > 0
    for got, want in zip(sorm.score_sync(items), alone, strict=True):
        assert got == pytest.approx(want, abs=1e-6)
    assert sorm.shared.tokens == held  # read, not run again

    other = tmp_path / "sorm"
    shutil.copytree(STORE / "sorm", other)
    model = AutoModelForCausalLM.from_pretrained(other)
    model.lm_head.weight.data[0, 0] += 1.0  # tied: the embedding moves too
    model.save_pretrained(other)
    spec = tmp_path / "spec.yaml"
    roles = {r: {"path": str(STORE / r)} for r in ("student", "orm", "global", "local")}
    spec.write_text(yaml.safe_dump({**roles, "sorm": {"path": str(other)}}))
    apart: Any = GLoRe.from_pretrained(spec).models
    assert apart.sorm.model is not apart.orm.model and apart.sorm.shared is None
