"""The likelihood probe over cached candidates, on the committed store's student."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.likelihood_probe import fitted, probe, token_logprobs
from glore.formats import scorer_prompt, student_prompt
from glore.tasks.arith import ArithTask

STUDENT = Path(__file__).resolve().parents[2] / "model_store" / "default" / "student"


@pytest.fixture(scope="module")
def problem() -> object:
    return ArithTask().load("validation", 1)[0]


def test_only_the_solutions_tokens_are_scored(problem: object) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lm = AutoModelForCausalLM.from_pretrained(STUDENT)
    tok = AutoTokenizer.from_pretrained(STUDENT)
    steps = list(problem.solution.reasoning)  # type: ignore[attr-defined]
    lp = token_logprobs(lm, tok, problem.question, steps)  # type: ignore[attr-defined]
    full = len(tok(scorer_prompt(problem.question, steps).text)["input_ids"])  # type: ignore[attr-defined]
    prompt = len(tok(student_prompt(problem.question).text)["input_ids"])  # type: ignore[attr-defined]
    assert lp.shape == (full - prompt,) and bool((lp <= 0).all())


def test_the_probe_reports_what_calibrate_reports_for_an_orm(problem: object) -> None:
    steps = list(problem.solution.reasoning)  # type: ignore[attr-defined]
    wrong = [*steps[:-1], "#### 12345"]
    cache = [
        {
            "question": problem.question,  # type: ignore[attr-defined]
            "candidates": [
                {"name": "draft", "steps": wrong, "right": False},
                {"name": "global", "steps": steps, "right": True},
                {"name": "local", "steps": [], "right": False},
            ],
        }
    ]
    report = probe(cache, STUDENT)
    assert report["greedy"] == 0.0
    for name in ("mean", "min"):
        assert report[name]["ranking_pairs"] == 2 and report[name]["oracle"] == 1.0
        assert report[name]["ranking"] == 1.0  # an empty candidate ranks last
        assert report[name]["accuracy"] == 1.0  # the reference beats an unlikely answer


def test_fitted_heads_weigh_the_likelihood_by_outcome_labels() -> None:
    """References are right and an unlikely final answer wrong, so both fitted heads put
    the likelihood's weight the right way round and rank the reference first."""
    problems = ArithTask().load("train", 6)
    samples = []
    for i, p in enumerate(problems):
        steps = list(p.solution.reasoning)  # type: ignore[union-attr]
        wrong = [*steps[:-1], "#### 12345"]
        for ok, s in ((True, steps), (False, wrong)):
            samples.append({"qid": f"q{i}", "question": p.question, "steps": s, "correct": ok})
    val = ArithTask().load("validation", 2)
    cache = []
    for p in val:
        steps = list(p.solution.reasoning)  # type: ignore[union-attr]
        cache.append(
            {
                "question": p.question,
                "candidates": [
                    {"name": "draft", "steps": [*steps[:-1], "#### 12345"], "right": False},
                    {"name": "global", "steps": steps, "right": True},
                ],
            }
        )
    report = fitted(cache, STUDENT, samples)
    assert report["samples"] == 12
    for head in ("outcome", "pairwise"):
        assert len(report[head]["weights"]) == 4
        assert report[head]["ranking_pairs"] == 2 and report[head]["ranking"] == 1.0
        assert report[head]["accuracy"] == 1.0


def test_the_command_line_says_what_it_takes(capsys: pytest.CaptureFixture[str]) -> None:
    from evaluation.likelihood_probe import main

    with pytest.raises(SystemExit):
        main(["only-one-argument"])
    assert "CANDIDATES" in capsys.readouterr().err.upper()
