"""`glore eval --labels FILE`: the reward report's labelled samples made once and read
back, refused when they were drawn another way or by another student; end to end, the
second report reads the file and judges the same samples alike."""

import json
import shutil
from pathlib import Path

import pytest

from evaluation.config import EvalConfig
from evaluation.label_cache import cache_key, cached_labels, student_fingerprint
from evaluation.run import evaluate
from evaluation.step_labels import LabelledSample
from glore.engine.loading import ROLES
from glore.errors import InvalidInputError

STORE = Path(__file__).resolve().parents[2] / "model_store" / "default"
SAMPLE = LabelledSample("q1", "Q?", ["1 + 1 = 2", "#### 2"], True, [True, True], None)


def _spec(tmp_path: Path, student: object) -> Path:
    spec = {role: {"path": str(STORE / role)} for role in ROLES} | {"student": student}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def test_the_samples_are_made_once_then_read_back(tmp_path: Path) -> None:
    made: list[int] = []

    def make() -> list[LabelledSample]:
        made.append(1)
        return [SAMPLE]

    path, key = tmp_path / "labels.json", {"k_eval": 4}
    assert cached_labels(path, key, make) == [SAMPLE]
    assert cached_labels(path, key, make) == [SAMPLE] and len(made) == 1
    with pytest.raises(InvalidInputError, match="holds labelled samples of"):
        cached_labels(path, {"k_eval": 8}, make)
    assert cached_labels(None, key, make) == [SAMPLE] and len(made) == 2


def test_the_key_names_the_student_by_its_weights(tmp_path: Path) -> None:
    copy = tmp_path / "student"
    shutil.copytree(STORE / "student", copy)
    same = student_fingerprint(_spec(tmp_path, {"path": str(copy)}))
    assert same == student_fingerprint(STORE)
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x01")
    assert student_fingerprint(_spec(tmp_path, {"path": str(copy)})) != same
    remote = _spec(tmp_path, {"backend": "vllm", "url": "http://gpu:8000/v1"})
    assert student_fingerprint(remote) not in (same, student_fingerprint(STORE))
    cfg = EvalConfig(k_eval=4)
    assert cache_key(cfg, STORE) != cache_key(EvalConfig(k_eval=8), STORE)
    assert cache_key(cfg, STORE)["student"] == same


def test_a_second_report_reads_the_cached_samples(tmp_path: Path) -> None:
    cfg = EvalConfig(reports=("reward",), reward_questions=2, reward_samples=2, k_eval=2, seed=5)
    labels = tmp_path / "labels.json"
    first = evaluate(cfg, STORE, tmp_path / "a", labels=labels)["reward"]
    saved = json.loads(labels.read_text())
    assert saved["key"] == cache_key(cfg, STORE) and len(saved["samples"]) == first["samples"]
    again = evaluate(cfg, STORE, tmp_path / "b", labels=labels)["reward"]
    assert again["models"] == first["models"]
    saved["samples"] = saved["samples"][:1]  # what is read is the file's, not redrawn
    labels.write_text(json.dumps(saved))
    second = evaluate(cfg, STORE, tmp_path / "c", labels=labels)["reward"]
    assert second["samples"] == 1
    orm = second["models"]["orm"]["rollout"]
    assert orm["final"]["steps"] == 1
