"""The frozen-feature probe: its states are the ORM head's inputs, its heads fit what they
should, and its report has `glore calibrate`'s numbers, on the committed store's student."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from evaluation.feature_probe import (
    pair_differences,
    probe,
    sample_rows,
    solution_states,
)
from glore.formats import Problem
from glore.tasks.arith import ArithTask

STUDENT = Path(__file__).resolve().parents[2] / "model_store" / "default" / "student"


def _steps(problem: Problem) -> list[str]:
    assert problem.solution is not None  # the arith task gives every problem its solution
    return list(problem.solution.reasoning)


@pytest.fixture(scope="module")
def lm_tok() -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    lm: Any = AutoModelForCausalLM.from_pretrained(STUDENT, dtype=torch.float32)
    lm.eval()
    return lm, AutoTokenizer.from_pretrained(STUDENT)


def test_states_are_the_last_step_end_and_padding_does_not_move_them(
    lm_tok: tuple[Any, Any],
) -> None:
    from transformers import AutoModelForTokenClassification

    lm, tok = lm_tok
    problems = ArithTask().load("validation", 3)
    items = [(p.question, _steps(p)) for p in problems]
    batched = solution_states(lm, tok, items, batch=3)
    alone = [solution_states(lm, tok, [it], batch=1) for it in items]
    for pool in ("last", "mean"):
        assert batched[pool].shape == (3, lm.config.hidden_size)
        assert torch.allclose(batched[pool], torch.cat([a[pool] for a in alone]), atol=1e-5)
    # The ORM's head reads the same state: a head with these weights gives the same score.
    from glore.formats import scorer_prompt, step_end_tokens

    orm: Any = AutoModelForTokenClassification.from_pretrained(
        STUDENT, num_labels=1, dtype=torch.float32
    ).eval()
    enc = step_end_tokens(tok, scorer_prompt(*items[0]))
    with torch.inference_mode():
        logit = orm(input_ids=torch.tensor([enc.input_ids])).logits[0, enc.step_ends[-1], 0]
    with torch.inference_mode():
        from_state = orm.score(batched["last"][0])[0]
    assert float(from_state) == pytest.approx(float(logit), abs=1e-4)


def test_pairs_are_within_one_question_and_labelled_by_their_order() -> None:
    states = torch.tensor([[1.0], [0.0], [5.0], [3.0], [7.0]])
    qids = ["a", "a", "b", "b", "c"]  # c has no wrong sample: no pair
    right = [True, False, True, False, True]
    diffs, labels = pair_differences(states, qids, right, seed=0)
    assert len(diffs) == 2
    for d, label in zip(diffs[:, 0].tolist(), labels.tolist(), strict=True):
        assert (d > 0) == (label == 1.0)  # the right sample's state is the larger here
    with pytest.raises(ValueError, match="both a right and a wrong"):
        pair_differences(states[:1], ["a"], [True], seed=0)


def test_the_report_has_calibrates_numbers_for_both_heads() -> None:
    problems = ArithTask().load("train", 6)
    samples = []
    for i, p in enumerate(problems):
        steps = _steps(p)
        samples.append({"qid": f"q{i}", "question": p.question, "steps": steps, "correct": True})
        wrong = [*steps[:-1], "#### 12345"]
        samples.append({"qid": f"q{i}", "question": p.question, "steps": wrong, "correct": False})
    val = ArithTask().load("validation", 2)
    cache = [
        {
            "question": p.question,
            "candidates": [
                {"name": "draft", "steps": _steps(p), "right": True},
                {"name": "global", "steps": [], "right": False},
            ],
        }
        for p in val
    ]
    report = probe(cache, STUDENT, samples)
    assert report["samples"] == 12
    for pool in ("last", "mean"):
        assert report[pool]["train_pairs"] == 6
        assert 0.0 <= report[pool]["pairwise_train_ranking"] <= 1.0
        for head in ("outcome", "pairwise"):
            assert report[pool][head]["ranking_pairs"] == 2
            assert report[pool][head]["ranking"] == 1.0  # an empty candidate ranks last
            assert report[pool][head]["oracle"] == 1.0


def test_sample_rows_read_every_chunk_in_order(tmp_path: Path) -> None:
    (tmp_path / "000001.jsonl").write_text('{"qid": "b"}\n\n')
    (tmp_path / "000000.jsonl").write_text('{"qid": "a"}\n{"qid": "a2"}\n')
    assert [r["qid"] for r in sample_rows(tmp_path)] == ["a", "a2", "b"]
    assert sample_rows(tmp_path / "missing") == []
