"""SVAMP loader: the real file, the built reference steps, malformed entries, the split."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from glore.errors import DatasetError, InvalidInputError
from glore.formats import check_annotation, find_annotations
from glore.tasks import get_task
from glore.tasks.check import check_dataset
from glore.tasks.svamp import SvampTask


def _entry(equation: str = "( 76.0 - 25.0 )", answer: Any = 51.0, **extra: Any) -> dict[str, Any]:
    entry = {
        "ID": "chal-1",
        "Body": "Each pack of dvds costs 76 dollars.  If there is a discount of 25 dollars",
        "Question": "How much do you have to pay?",
        "Equation": equation,
        "Answer": answer,
        "Type": "Subtraction",
    }
    return entry | extra


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "SVAMP.json"
    path.write_text(json.dumps(data, indent=4), encoding="utf-8")
    return path


def _real_file(shared_data: Path) -> Path:
    path = shared_data / "svamp" / "SVAMP.json"
    if not path.is_file():
        pytest.skip(
            f"{path} is missing: these tests need the MIT-licensed SVAMP copy in "
            "../shared/data/svamp (as in CI)"
        )
    return path


def test_every_real_reference_parses_and_matches(shared_data: Path) -> None:
    path = _real_file(shared_data)
    entries = json.loads(path.read_text(encoding="utf-8"))
    report = check_dataset(SvampTask(path))
    print(report.summary())
    assert report.total == len(entries)
    assert report.parsed == report.total == report.matched


def test_real_answers_equal_the_dataset_answers(shared_data: Path) -> None:
    path = _real_file(shared_data)
    entries = json.loads(path.read_text(encoding="utf-8"))
    problems = SvampTask(path).load("all")
    corrected = [p.meta["svamp_id"] for p in problems if "erratum" in p.meta]
    assert corrected == ["chal-680"]
    for problem, entry in zip(problems, entries, strict=True):
        assert problem.id == f"svamp-{entry['ID']}"
        assert problem.tolerance is None
        if "erratum" not in problem.meta:
            assert problem.answer == Fraction(str(entry["Answer"]))
        assert problem.solution is not None
        annotations = find_annotations(problem.solution.text)
        assert [check_annotation(a) for a in annotations] == ["ok"]


def test_real_known_erratum_uses_the_equation(shared_data: Path) -> None:
    problems = SvampTask(_real_file(shared_data)).load("all")
    rachel = next(p for p in problems if p.id == "svamp-chal-680")
    assert rachel.answer == 5
    assert rachel.meta["dataset_answer"] == "1"
    assert rachel.solution is not None
    assert rachel.solution.steps == ("(4 - 2) + 3 = <<(4-2)+3=5>>5", "#### 5")


def test_problem_from_entry(tmp_path: Path) -> None:
    task = get_task("svamp", path=_write(tmp_path, [_entry()]))
    assert task.splits == ("all",)
    [problem] = task.load("all")
    assert problem.id == "svamp-chal-1"
    assert problem.question == (
        "Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars "
        "How much do you have to pay?"
    )
    assert problem.answer == 51
    assert problem.source == "svamp"
    assert problem.solution is not None
    assert problem.solution.steps == ("76 - 25 = <<76-25=51>>51", "#### 51")
    assert problem.meta["type"] == "Subtraction"


@pytest.mark.parametrize(
    ("equation", "answer", "step"),
    [
        ("( ( 4.0 - 2.0 ) + 3.0 )", 5.0, "(4 - 2) + 3 = <<(4-2)+3=5>>5"),
        ("( 2.5 * 4.0 )", 10.0, "2.5 * 4 = <<2.5*4=10>>10"),
        ("( 10.0 / 4.0 )", 2.5, "10 / 4 = <<10/4=2.5>>2.5"),
        ("( 10.0 / 3.0 )", 10 / 3, "10 / 3 = <<10/3=10/3>>10/3"),
        ("( 3.0 - 1.0 ) * ( 2.0 + 1.0 )", 6, "(3 - 1) * (2 + 1) = <<(3-1)*(2+1)=6>>6"),
        ("7.0", 7.0, "7 = <<7=7>>7"),
    ],
)
def test_equation_becomes_one_annotated_step(
    tmp_path: Path, equation: str, answer: float, step: str
) -> None:
    [problem] = SvampTask(_write(tmp_path, [_entry(equation, answer)])).load("all")
    assert problem.solution is not None
    assert problem.solution.steps[0] == step
    assert float(problem.answer) == answer
    assert problem.check(problem.solution)


def test_split_and_n(tmp_path: Path) -> None:
    task = SvampTask(_write(tmp_path, [_entry(ID=f"chal-{i}") for i in range(3)]))
    assert [p.id for p in task.load("all", n=2)] == ["svamp-chal-0", "svamp-chal-1"]
    with pytest.raises(InvalidInputError, match="one split, 'all'"):
        task.load("test")
    with pytest.raises(InvalidInputError, match="n must be"):
        task.load("all", n=-1)


def test_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "SVAMP.json"
    with pytest.raises(DatasetError, match=r"SVAMP\.json: no such file") as info:
        SvampTask(missing)
    assert info.value.path == str(missing)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({k: v for k, v in _entry().items() if k != "Equation"}, "missing key 'Equation'"),
        (_entry(Body=""), "Body is ''; expected a non-empty string"),
        (_entry(answer="51"), "Answer is '51'; expected a finite number"),
        (_entry(answer=True), "Answer is True"),
        (_entry("( 76.0 - x )"), "not arithmetic; allowed: numbers, + - * / ( )"),
        (_entry("( 76.0 - )"), "cannot be evaluated"),
        (_entry("( 8.0 / 0.0 )"), "cannot be evaluated"),
        (_entry("( 10.0 / 3.0 )", 3.33), "Answer 3.33 disagrees with Equation"),
        (_entry(answer=50.0), "Answer 50.0 disagrees with Equation '( 76.0 - 25.0 )' = 51"),
        (_entry(ID="chal-680", answer=7.0), "Answer 7.0 disagrees"),
        (["not", "an", "object"], "found a JSON list"),
        (_entry(ID="chal-0"), "duplicate ID 'chal-0'"),
    ],
)
def test_malformed_entry_names_file_and_entry(tmp_path: Path, bad: Any, message: str) -> None:
    good = [_entry(ID="chal-0"), _entry(ID="chal-00")]
    path = _write(tmp_path, [*good, bad, _entry(ID="chal-3")])
    with pytest.raises(DatasetError) as info:
        SvampTask(path).load("all")
    assert info.value.line == 3
    assert f"{path}:3: entry 3:" in str(info.value)
    assert message in str(info.value)


def test_malformed_file(tmp_path: Path) -> None:
    path = tmp_path / "SVAMP.json"
    path.write_text('[\n {"ID": "chal-1",\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"SVAMP\.json:3: invalid JSON"):
        SvampTask(path).load("all")
    path.write_text('{"ID": "chal-1"}', encoding="utf-8")
    with pytest.raises(DatasetError, match="expected a list of entries"):
        SvampTask(path).load("all")


def test_known_erratum_only_for_its_wrong_value(tmp_path: Path) -> None:
    wrong = _entry("( ( 4.0 - 2.0 ) + 3.0 )", 1.0, ID="chal-680")
    [problem] = SvampTask(_write(tmp_path, [wrong])).load("all")
    assert problem.answer == 5
    assert problem.meta["dataset_answer"] == "1"
    fixed = _entry("( ( 4.0 - 2.0 ) + 3.0 )", 5.0, ID="chal-680")
    [problem] = SvampTask(_write(tmp_path, [fixed])).load("all")
    assert problem.answer == 5
    assert "erratum" not in problem.meta
