"""`generation` in a recipe: `sample` and `sorm-label` generate through a vLLM server (here
the stand-in server of the remote-backend tests, real HTTP on a loopback port), named as a
role of a serving spec; a bad entry fails before any work, naming the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from glore.errors import ConfigError
from tests.glore.backends import vllm_standin
from training.pipeline import run_stages
from training.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[2]


def _recipe(tmp_path: Path, generation: dict[str, Any]) -> Path:
    data = yaml.safe_load((ROOT / "recipes" / "smoke.yaml").read_text())
    data["generation"] = generation
    # The stand-in echoes the prompt (`<prompt|seed|j>`, a token a character): room for it
    # to write several lines, so samples have prefixes to roll out.
    data["sample"] = {**data["sample"], "questions": 8, "max_tokens": 400}
    # The student only has to exist (the server stands in for it): train it briefly.
    data["student"] = {"problems": 64, "train": {"steps": 2, "batch_size": 8}}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_sample_and_sorm_label_generate_through_the_server(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the stand-in vLLM server needs the service extra")
    with vllm_standin.StandinServer(models={"student"}) as server:
        path = _recipe(tmp_path, {"url": server.base_url, "model": "student", "timeout_s": 30})
        out = tmp_path / "run"
        run_stages(load_recipe(path), out, ("tokenizer", "student", "sample", "sorm-label"))
        bodies = [b for p, b in server.state.requests if p == "/v1/completions"]
    assert bodies and {b["model"] for b in bodies} == {"student"}
    chunks = sorted((out / "sample" / "chunks").glob("*.jsonl"))
    rows = [json.loads(line) for f in chunks for line in f.read_text().splitlines()]
    assert len(rows) == 16 and all(r["steps"][0].startswith("<Question: ") for r in rows)
    labelled = json.loads((out / "sorm-label" / "summary.json").read_text())
    assert labelled["rollouts"] > 0  # prefixes were rolled out through the server as well
    prompts = [
        p for b in bodies for p in (b["prompt"] if isinstance(b["prompt"], list) else [b["prompt"]])
    ]
    assert any("Answer:\n<Question: " in p for p in prompts)  # a rollout prompt


@pytest.mark.parametrize(
    ("generation", "message"),
    [
        ({"model": "student"}, "'generation': must be a mapping with a string url"),
        ({"url": "http://h:8000", "model": "s", "retries": 2}, "'generation.retries'"),
        ({"url": "http://h:8000", "model": "s", "timeout_s": "slow"}, "'generation.timeout_s'"),
        ({"url": "http://h:8000", "model": "s", "max_retries": -1}, "'generation': max_retries"),
    ],
)
def test_a_bad_generation_entry_fails_naming_the_key(
    tmp_path: Path, generation: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_recipe(_recipe(tmp_path, generation))


def test_where_the_student_generates_is_not_part_of_the_run(tmp_path: Path) -> None:
    a = load_recipe(_recipe(tmp_path, {"url": "http://a:8000", "model": "student"}))
    b = load_recipe(ROOT / "recipes" / "smoke.yaml")
    assert a.generation is not None and b.generation is None
    assert a.digest() != b.digest()  # the sample section differs above; not generation:
    c = load_recipe(_recipe(tmp_path, {"url": "http://b:9000", "model": "s"}))
    assert a.digest() == c.digest()
