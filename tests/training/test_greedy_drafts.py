"""`refine_data.global_drafts: greedy` and `both` on the committed default store's student
(seeded, so it solves about 40% of the task, where the smoke student solves none): a
greedy draft for each sampled question with a correct sample; global pairs from the
incorrect drafts, each to a correct sample of its question, and with `both` the samples'
own pairs before them."""

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from glore.labels.records import SampleRecord, to_json
from training.pipeline import run_stages
from training.recipe import load_recipe
from training.refine_pairs import global_pairs, greedy_pairs
from training.seed import seed_run

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "model_store" / "default"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    return [json.loads(line) for p in files for line in p.open()]


@pytest.mark.skipif(not (STORE / "student").is_dir(), reason="needs model_store/default")
@pytest.mark.parametrize("mode", ["greedy", "both"])
def test_global_pairs_from_greedy_drafts(tmp_path: Path, mode: str) -> None:
    data = yaml.safe_load((ROOT / "recipes" / "tiny.yaml").read_text())
    data |= {"threads": 1, "gen_batch": 16}
    data["sample"] = {**data["sample"], "questions": 12, "samples": 2, "chunk": 4}
    data["sorm_label"] = {"questions": 1, "k": 2, "noise_prefixes": 0, "bench_prefixes": 0}
    data["refine_data"] = {"cap_per_question": 2, "global_drafts": mode}
    path = tmp_path / "greedy.yaml"
    path.write_text(yaml.safe_dump(data))
    recipe, run = load_recipe(path), tmp_path / "run"
    seed_run(recipe, STORE, run, ["tokenizer", "student"])
    run_stages(recipe, run, ("sample", "sorm-label", "refine-data"))

    samples, drafts = _jsonl(run / "sample/chunks"), _jsonl(run / "refine-data/greedy")
    right = {s["qid"] for s in samples if s["correct"]}
    assert drafts and {d["qid"] for d in drafts} == right
    wrong = {d["qid"]: d["steps"] for d in drafts if not d["correct"]}
    targets = {(s["qid"], tuple(s["steps"])) for s in samples if s["correct"]}
    records = [SampleRecord(**s) for s in samples]
    rng = random.Random(recipe.seed)  # the stage draws the samples' pairs first
    first = global_pairs(records, 2, rng) if mode == "both" else []
    made = greedy_pairs([SampleRecord(**d) for d in drafts], records, 2, rng)
    pairs = _jsonl(run / "refine-data/global.jsonl")
    assert pairs == [to_json(p) for p in first + made]
    assert bool(first) == (mode == "both")
    assert all(p.draft == wrong[p.qid] for p in made)
    assert all((p.qid, tuple(p.target)) in targets for p in made)
    assert wrong and {p.qid for p in made} == set(wrong)
    summary = json.loads((run / "refine-data/summary.json").read_text())
    assert summary["greedy_drafts"] == {"questions": len(drafts), "incorrect": len(wrong)}
    assert summary["global"]["pairs"] == len(pairs)
