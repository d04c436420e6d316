"""Training splits of GSM8K and SVAMP: disjoint, a function of each question's text alone
(stable when the file's order changes), GSM8K's test file untouched."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from glore.errors import InvalidInputError
from glore.tasks.gsm8k import Gsm8kTask
from glore.tasks.splits import GSM8K_VALIDATION, SVAMP_TEST, HeldOutSplits, bucket


def _gsm8k(shared_data: Path) -> Path:
    folder = shared_data / "gsm8k"
    if not (folder / "train.jsonl").is_file() or not (folder / "test.jsonl").is_file():
        pytest.skip(f"{folder}/train.jsonl or test.jsonl is missing (GSM8K copy, as in CI)")
    return folder


def test_gsm8k_train_and_validation_share_out_the_train_file(shared_data: Path) -> None:
    folder = _gsm8k(shared_data)
    task = HeldOutSplits("gsm8k", folder)
    train, validation, test = (task.load(s) for s in ("train", "validation", "test"))
    file_train = Gsm8kTask(folder).load("train")
    assert (len(train), len(validation), len(test)) == (6778, 695, 1319)
    assert len(train) + len(validation) == len(file_train)
    assert {p.id for p in train}.isdisjoint(p.id for p in validation)
    assert {p.question for p in train}.isdisjoint(p.question for p in validation)
    assert all(bucket(p.question) < GSM8K_VALIDATION for p in validation)
    assert [p.id for p in test] == [p.id for p in Gsm8kTask(folder).load("test")]
    assert [p.id for p in task.load("train", 5)] == [p.id for p in train[:5]]


def test_gsm8k_split_does_not_move_when_the_file_is_reordered(
    shared_data: Path, tmp_path: Path
) -> None:
    folder = _gsm8k(shared_data)
    lines = (folder / "train.jsonl").read_text().splitlines()[:400]
    shuffled = lines[:]
    random.Random(3).shuffle(shuffled)
    for name, rows in (("a", lines), ("b", shuffled)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "train.jsonl").write_text("\n".join(rows) + "\n")
        (tmp_path / name / "test.jsonl").write_text(lines[0] + "\n")
    a, b = (HeldOutSplits("gsm8k", tmp_path / n).load("validation") for n in ("a", "b"))
    assert a and {p.question for p in a} == {p.question for p in b}


def test_svamp_has_disjoint_train_validation_and_test(shared_data: Path) -> None:
    path = shared_data / "svamp" / "SVAMP.json"
    if not path.is_file():
        pytest.skip(f"{path} is missing (SVAMP copy, as in CI)")
    task = HeldOutSplits("svamp", path)
    parts = {s: task.load(s) for s in task.splits}
    assert {s: len(v) for s, v in parts.items()} == {"train": 678, "validation": 98, "test": 224}
    ids = [p.id for v in parts.values() for p in v]
    assert len(ids) == len(set(ids)) == len(json.loads(path.read_text()))
    assert all(bucket(p.question) < SVAMP_TEST for p in parts["test"])


def test_unknown_split_and_task_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="held-out splits are for gsm8k and svamp"):
        HeldOutSplits("arith", tmp_path)
    with pytest.raises(InvalidInputError, match="has no split 'hard'; splits: train"):
        HeldOutSplits("gsm8k", tmp_path).load("hard")
