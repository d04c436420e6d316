"""Which pairs a refiner learns from (`training.stages.refiners.refiner_pairs`)."""

from pathlib import Path

from glore.labels.records import RefinePair, to_json
from training.rundir import write_jsonl
from training.stages.refiners import refiner_pairs


def _pairs(folder: Path) -> tuple[RefinePair, RefinePair]:
    g = RefinePair(
        "global", "q1", "What is 2 + 3?", ["2 + 3 = 6", "#### 6"], ["2 + 3 = 5", "#### 5"]
    )
    loc = RefinePair(
        "local", "q2", "What is 4 x 2?", ["4 x 2 = 9", "#### 9"], ["4 x 2 = 8", "#### 8"], 0
    )
    write_jsonl(folder / "global.jsonl", [to_json(g)])
    write_jsonl(folder / "local.jsonl", [to_json(loc)])
    return g, loc


def test_each_refiner_learns_its_own_pairs_by_default(tmp_path: Path) -> None:
    g, loc = _pairs(tmp_path)
    assert refiner_pairs(tmp_path, "global", "own") == [g]
    assert refiner_pairs(tmp_path, "local", "own") == [loc]


def test_with_both_it_learns_the_other_kind_after_its_own(tmp_path: Path) -> None:
    g, loc = _pairs(tmp_path)
    assert refiner_pairs(tmp_path, "global", "both") == [g, loc]
    assert refiner_pairs(tmp_path, "local", "both") == [loc, g]
