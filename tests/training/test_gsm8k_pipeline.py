"""`recipes/gsm8k-smoke.yaml` end to end on the real GSM8K files: a tiny Qwen2 base model the
test builds (LoRA, as recipes/gsm8k.yaml trains), every stage, then `glore eval --task
gsm8k` on the store it exported. Skips, naming the file, where the data is absent."""

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from safetensors import safe_open
from typer.testing import CliRunner

from glore.cli import app
from glore.tasks.splits import HeldOutSplits, bucket
from tests.shared_data import dataset
from tests.training.tiny_models import save_base
from training.pipeline import STAGES, run_stages
from training.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[2]


def gsm8k_folder() -> Path:
    return dataset("gsm8k")


@pytest.fixture(scope="module")
def gsm8k_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    data = gsm8k_folder()
    tmp = tmp_path_factory.mktemp("gsm8k")
    train = HeldOutSplits("gsm8k", data).load("train", 300)
    texts = [p.question + "\n" + p.solution.text for p in train if p.solution]
    base = save_base(tmp / "base", "qwen2", texts, vocab_size=800)
    recipe = yaml.safe_load((ROOT / "recipes" / "gsm8k-smoke.yaml").read_text())
    recipe["task"]["path"] = str(data)
    recipe["model"] = {"base": str(base), "lora": {"r": 4, "alpha": 8}, "max_len": 1024}
    recipe["export"]["store"] = str(tmp / "store")
    path = tmp / "gsm8k-smoke.yaml"
    path.write_text(yaml.safe_dump(recipe))
    started = time.time()
    summaries = run_stages(load_recipe(path), tmp / "run")
    return {
        "data": data,
        "run": tmp / "run",
        "store": tmp / "store" / "gsm8k-smoke",
        "summaries": {s["stage"]: s for s in summaries},
        "seconds": time.time() - started,
    }


def test_every_stage_runs_on_gsm8k(gsm8k_run: dict[str, Any]) -> None:
    summaries = gsm8k_run["summaries"]
    assert list(summaries) == list(STAGES)
    assert summaries["tokenizer"]["source"].startswith("from base model")
    assert summaries["student"]["validation_questions"] == 8
    assert 0.0 <= summaries["student"]["validation_greedy_accuracy"] <= 1.0
    assert summaries["sample"]["questions"] == 32 and summaries["sample"]["samples"] == 64
    manifest = json.loads((gsm8k_run["store"] / "manifest.json").read_text())
    assert manifest["recipe"]["task"]["name"] == "gsm8k"
    assert manifest["heldout"]["test_questions"] == 8
    # The base model trained through LoRA adapters, merged before saving; refiners with
    # pairs to learn from would keep theirs for vLLM (a smoke-size student has none).
    student: Any = safe_open(str(gsm8k_run["store"] / "student" / "model.safetensors"), "pt")
    assert not [k for k in student.keys() if "lora" in k]  # noqa: SIM118
    assert set(manifest["adapters"]) <= {"global", "local"}
    print(f"gsm8k smoke pipeline: {gsm8k_run['seconds']:.0f} s")


def test_samples_come_from_the_train_split_only(gsm8k_run: dict[str, Any]) -> None:
    """The sampled questions are GSM8K train-file questions outside the validation hash
    buckets, the first 32 of the train split (sample.start: 0)."""
    rows = [
        json.loads(line)
        for path in sorted((gsm8k_run["run"] / "sample" / "chunks").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    train = HeldOutSplits("gsm8k", gsm8k_run["data"]).load("train", 32)
    assert [r["qid"] for r in rows[::2]] == [p.id for p in train]
    assert all(r["qid"].startswith("gsm8k-train-") and bucket(r["question"]) >= 10 for r in rows)


def test_glore_eval_reads_the_exported_store(gsm8k_run: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "eval"
    args = ["eval", "--task", "gsm8k", "--data", str(gsm8k_run["data"]), "--models",
            str(gsm8k_run["store"]), "--out", str(out), "--questions", "3",
            "--reward-questions", "2", "--reward-samples", "1", "--k-eval", "2",
            "--bootstrap", "10", "--rows", "greedy,glore", "--batch", "3"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["meta"]["task"] == "gsm8k/test"
    assert report["refine"]["rows"]
