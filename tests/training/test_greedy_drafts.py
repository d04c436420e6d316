"""`refine_data.global_drafts: greedy` on the committed default store's student (seeded,
so it solves about 40% of the task, where the smoke student solves none): a greedy draft
for each sampled question with a correct sample, and global pairs only from the incorrect
drafts, each to a correct sample of its question."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from training.pipeline import run_stages
from training.recipe import load_recipe
from training.seed import seed_run

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "model_store" / "default"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    return [json.loads(line) for p in files for line in p.open()]


@pytest.mark.skipif(not (STORE / "student").is_dir(), reason="needs model_store/default")
def test_global_pairs_from_greedy_drafts(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "recipes" / "tiny.yaml").read_text())
    data |= {"threads": 1, "gen_batch": 16}
    data["sample"] = {**data["sample"], "questions": 12, "samples": 2, "chunk": 4}
    data["sorm_label"] = {"questions": 1, "k": 2, "noise_prefixes": 0, "bench_prefixes": 0}
    data["refine_data"] = {"cap_per_question": 2, "global_drafts": "greedy"}
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
    pairs = _jsonl(run / "refine-data/global.jsonl")
    assert all(p["draft"] == wrong[p["qid"]] for p in pairs)
    assert all((p["qid"], tuple(p["target"])) in targets for p in pairs)
    assert wrong and {p["qid"] for p in pairs} == set(wrong)
    summary = json.loads((run / "refine-data/summary.json").read_text())
    assert summary["greedy_drafts"] == {"questions": len(drafts), "incorrect": len(wrong)}
    assert summary["global"]["pairs"] == len(pairs)
