"""`glore bench train` at a tiny size on a tiny store's student: every setting trains on
the ORM stage's examples, and the report's counts, ratios and peak shares agree with each
other (speed itself is not checked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bench.train import orm_examples
from glore.cli import app
from glore.modeling import new_causal_lm, train_tokenizer
from glore.modeling.tokenizer import corpus_texts
from glore.tasks.arith import ArithTask

PROBLEMS = 32  # 64 examples: 16 steps of 4 are one epoch, so every setting sees them all


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store")
    tok = train_tokenizer(corpus_texts(ArithTask().load("train", 60)), vocab_size=300)
    new_causal_lm("nano", tok, seed=0).save_pretrained(root / "student")
    tok.save_pretrained(root / "student")
    return root


def test_examples_are_a_right_and_a_wrong_sample_of_each_problem(store: Path) -> None:
    from transformers import AutoTokenizer

    examples = orm_examples(AutoTokenizer.from_pretrained(store / "student"), 5)
    labels = [{v for v in e["labels"] if v >= 0} for e in examples]
    assert labels == [{1.0}, {0.0}] * 5  # the ORM's rule: every step has the outcome


def test_report_is_consistent(store: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    out = tmp_path / "train.json"
    args = ["bench", "train", "--store", str(store), "--steps", "16", "--batch-size", "4"]
    args += ["--problems", str(PROBLEMS), "--warmup-steps", "1", "--force-bf16"]
    result = CliRunner().invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert out.read_text().strip() in result.output  # printed too
    examples = orm_examples(AutoTokenizer.from_pretrained(store / "student"), PROBLEMS)
    assert report["setup"]["examples"] == len(examples) == 2 * PROBLEMS
    rows = report["settings"]
    assert list(rows) == ["random", "grouped", "grouped_bf16"]
    seen = sum(len(e["input_ids"]) for e in examples)
    peak = report["machine"]["matmul_gflops"] * 1e9
    for row in rows.values():
        _consistent(row, seen, report["setup"]["weights"], peak)
        assert row["speedup"] == round(row["tokens_per_s"] / rows["random"]["tokens_per_s"], 2)
    assert rows["grouped"]["pad_share"] < rows["random"]["pad_share"]
    assert rows["grouped_bf16"]["pad_share"] == rows["grouped"]["pad_share"]  # same batches


def _consistent(row: dict[str, Any], seen: int, weights: int, peak: float) -> None:
    assert row["tokens"] == seen
    assert row["pad_share"] == round(1 - seen / row["padded_tokens"], 4)
    assert row["tokens_per_s"] == pytest.approx(seen / row["seconds"], rel=0.01)
    share = 6 * weights * row["tokens_per_s"] / peak  # the peak is rounded in the report
    assert row["peak_share"] == pytest.approx(share, rel=0.01, abs=1e-4)
