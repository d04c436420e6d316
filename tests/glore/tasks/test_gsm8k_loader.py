"""GSM8K loader: the real files, malformed lines, splits, and the dataset self-check."""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from glore.errors import DatasetError, InvalidInputError
from glore.formats import Problem, parse_solution
from glore.tasks import get_task
from glore.tasks.check import check_dataset
from glore.tasks.gsm8k import Gsm8kTask

GOOD = {"question": "Tom has 2 apples and buys 3. How many?", "answer": "2+3=<<2+3=5>>5\n#### 5"}


def _real_file(shared_data: Path, split: str) -> Path:
    path = shared_data / "gsm8k" / f"{split}.jsonl"
    if not path.is_file():
        pytest.skip(
            f"{path} is missing: these tests need the MIT-licensed GSM8K copy in "
            "../shared/data/gsm8k (as in CI)"
        )
    return path


def _write(tmp_path: Path, lines: list[str], name: str = "test.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _line(record: object) -> str:
    return json.dumps(record)


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_real_reference_parses_and_matches(shared_data: Path, split: str) -> None:
    path = _real_file(shared_data, split)
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    report = check_dataset(Gsm8kTask(path), split)
    print(report.summary())
    assert report.total == len(lines)
    assert report.parsed == report.total == report.matched
    assert report.failed == ()


@pytest.mark.parametrize("split", ["train", "test"])
def test_real_answers_equal_the_marker_line(shared_data: Path, split: str) -> None:
    """Independent of parse_solution: the text after `####` on the last line, commas removed."""
    path = _real_file(shared_data, split)
    problems = Gsm8kTask(path).load(split)
    for problem, line in zip(problems, path.read_text(encoding="utf-8").splitlines(), strict=True):
        last = json.loads(line)["answer"].strip().splitlines()[-1]
        assert last.startswith("#### ")
        assert problem.answer == Fraction(last[5:].replace(",", ""))


def test_real_folder_splits_and_ids(shared_data: Path) -> None:
    _real_file(shared_data, "test")
    task = get_task("gsm8k", path=shared_data / "gsm8k")
    assert set(task.splits) >= {"train", "test"}
    first = task.load("test", n=2)
    assert [p.id for p in first] == ["gsm8k-test-0", "gsm8k-test-1"]
    assert first[0].answer == 18
    assert first[0].source == "gsm8k"
    assert first[0].solution is not None
    assert "<<16-3-4=9>>" in first[0].solution.text  # calculator annotations are kept


def test_file_is_one_split_named_by_its_stem(tmp_path: Path) -> None:
    task = Gsm8kTask(_write(tmp_path, [_line(GOOD)] * 3, "dev.jsonl"))
    assert task.splits == ("dev",)
    problems = task.load("dev")
    assert [p.id for p in problems] == ["gsm8k-dev-0", "gsm8k-dev-1", "gsm8k-dev-2"]
    assert problems[0].answer == 5
    assert problems[0].solution is not None
    assert problems[0].solution.steps == ("2+3=<<2+3=5>>5", "#### 5")
    assert len(task.load("dev", n=2)) == 2
    assert task.load("dev", n=0) == []


def test_folder_splits_are_jsonl_stems(tmp_path: Path) -> None:
    _write(tmp_path, [_line(GOOD)], "train.jsonl")
    _write(tmp_path, [_line(GOOD)], "test.jsonl")
    (tmp_path / "README.md").write_text("not a split")
    assert Gsm8kTask(tmp_path).splits == ("test", "train")


def test_unknown_split_and_bad_n(tmp_path: Path) -> None:
    task = Gsm8kTask(_write(tmp_path, [_line(GOOD)]))
    with pytest.raises(InvalidInputError, match="splits: test"):
        task.load("train")
    with pytest.raises(InvalidInputError, match="n must be"):
        task.load("test", n=-1)


def test_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DatasetError, match=r"nope\.jsonl") as info:
        Gsm8kTask(missing)
    assert info.value.path == str(missing)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no \*\.jsonl"):
        Gsm8kTask(tmp_path)


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"question": "q", "answer": ', "invalid JSON"),
        (_line({"question": "q"}), "missing field 'answer'"),
        (_line({"question": 3, "answer": "#### 1"}), "field 'question' is 3"),
        (_line(["q", "#### 1"]), "found a JSON list"),
        (_line({"question": "q", "answer": "1+1=2\nso 2"}), "no '####' line"),
        (_line({"question": "q", "answer": "1+1=2\n#### two"}), "without a number"),
        (_line({"question": "q", "answer": "#### 2\nmore"}), "text after"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path: Path, bad_line: str, message: str) -> None:
    path = _write(tmp_path, [_line(GOOD), _line(GOOD), bad_line, _line(GOOD)])
    with pytest.raises(DatasetError) as info:
        Gsm8kTask(path).load("test")
    assert info.value.line == 3
    assert f"{path}:3:" in str(info.value)
    assert message in str(info.value)


def test_blank_lines_only_at_end(tmp_path: Path) -> None:
    trailing = _write(tmp_path, [_line(GOOD), "", "  "], "a.jsonl")
    assert len(Gsm8kTask(trailing).load("a")) == 1
    middle = _write(tmp_path, [_line(GOOD), "", _line(GOOD)], "b.jsonl")
    with pytest.raises(DatasetError, match=r"b\.jsonl:2: blank line"):
        Gsm8kTask(middle).load("b")


class _ListTask:
    """A task over given problems: GSM8K files cannot hold a wrong reference, since the
    answer is read from the reference's own `####` line."""

    name = "gsm8k"
    splits = ("test",)

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems

    def load(self, split: str, n: int | None = None) -> list[Problem]:
        return self.problems[:n]


def test_check_dataset_counts_a_wrong_reference(tmp_path: Path) -> None:
    task = Gsm8kTask(_write(tmp_path, [_line(GOOD)] * 4))
    problems = task.load("test")
    problems[1] = replace(problems[1], answer=Fraction(6))
    problems[2] = replace(problems[2], solution=parse_solution("2+3=<<2+3=5>>5"))
    report = check_dataset(_ListTask(problems), "test")
    print(report.summary())
    assert (report.total, report.parsed, report.matched) == (4, 3, 2)
    assert report.failed == ("gsm8k-test-1", "gsm8k-test-2")
    assert not report.ok
    assert "4 problems, 3 references parsed (####), 2 match" in report.summary()
    assert "gsm8k-test-1, gsm8k-test-2" in report.summary()
    assert check_dataset(task).ok
    with pytest.raises(InvalidInputError, match="no split 'dev'"):
        check_dataset(task, "dev")
