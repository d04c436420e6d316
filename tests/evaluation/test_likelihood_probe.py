"""The likelihood probe over cached candidates, on the committed store's student."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluation.likelihood_probe import probe, token_logprobs
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
