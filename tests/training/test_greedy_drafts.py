"""`refine_data.global_drafts: greedy` and `both` on the committed default store's student
(seeded, so it solves about 40% of the task, where the smoke student solves none): a
greedy draft for each sampled question with a correct sample; global pairs from the
incorrect drafts, each to a correct sample of its question, and with `both` the samples'
own pairs before them. `refine_data.local_drafts` likewise: local pairs from the incorrect
drafts, their prefixes rolled out by the stage, by the samples' rule."""

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from glore.labels.records import PrefixRollouts, SampleRecord, to_json
from glore.labels.rules import index_prefixes
from training.pipeline import run_stages
from training.recipe import Recipe, load_recipe
from training.refine_pairs import global_pairs, greedy_local_pairs, greedy_pairs, local_pairs
from training.seed import seed_run

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "model_store" / "default"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    return [json.loads(line) for p in files for line in p.open()]


def _run(tmp_path: Path, refine_data: dict[str, Any]) -> tuple[Recipe, Path]:
    """sample, sorm-label and refine-data on 12 questions, the store's student seeded."""
    data = yaml.safe_load((ROOT / "recipes" / "tiny.yaml").read_text())
    data |= {"threads": 1, "gen_batch": 16}
    data["sample"] = {**data["sample"], "questions": 12, "samples": 2, "chunk": 4}
    data["sorm_label"] = {"questions": 1, "k": 2, "noise_prefixes": 0, "bench_prefixes": 0}
    data["refine_data"] = {"cap_per_question": 2, **refine_data}
    path = tmp_path / "greedy.yaml"
    path.write_text(yaml.safe_dump(data))
    recipe, run = load_recipe(path), tmp_path / "run"
    seed_run(recipe, STORE, run, ["tokenizer", "student"])
    run_stages(recipe, run, ("sample", "sorm-label", "refine-data"))
    return recipe, run


@pytest.mark.skipif(not (STORE / "student").is_dir(), reason="needs model_store/default")
@pytest.mark.parametrize("mode", ["greedy", "both"])
def test_global_pairs_from_greedy_drafts(tmp_path: Path, mode: str) -> None:
    recipe, run = _run(tmp_path, {"global_drafts": mode})

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


@pytest.mark.skipif(not (STORE / "student").is_dir(), reason="needs model_store/default")
def test_local_pairs_from_greedy_drafts(tmp_path: Path) -> None:
    recipe, run = _run(tmp_path, {"local_drafts": "both"})
    samples = [SampleRecord(**s) for s in _jsonl(run / "sample/chunks")]
    drafts = [SampleRecord(**d) for d in _jsonl(run / "refine-data/greedy")]
    wrong = [d for d in drafts if not d.correct]
    rolled = [PrefixRollouts(**r) for r in _jsonl(run / "refine-data/greedy-rollouts")]
    # every prefix of every incorrect draft, and nothing else, was rolled out K times
    want = {(d.qid, tuple(d.steps[:i])) for d in wrong for i in range(1, len(d.steps))}
    assert {(r.qid, tuple(r.prefix)) for r in rolled} == want
    assert all(len(r.rollouts) == recipe.sorm_label.k for r in rolled)
    sorm_rows = [PrefixRollouts(**r) for r in _jsonl(run / "sorm-label/rollouts")]
    chosen = [s for s in samples if s.qid == samples[0].qid]  # sorm_label.questions: 1
    rng = random.Random(recipe.seed)
    global_pairs(samples, 2, rng)  # the stage draws the global pairs first
    first = local_pairs(chosen, index_prefixes(sorm_rows), 2, rng)
    made = greedy_local_pairs(wrong, samples, index_prefixes(rolled), 2, rng)
    pairs = _jsonl(run / "refine-data/local.jsonl")
    assert pairs == [to_json(p) for p in first + made]
    assert made and all(p.first_error is not None and p.qid in {d.qid for d in wrong} for p in made)
