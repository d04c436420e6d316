"""The pipeline over remote backends: a spec file names vLLM servers for every role, and
GLoRe runs over real HTTP against the stand-in server (vLLM's documented shapes)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from glore import GLoRe
from glore.errors import ConfigError, ModelNotFoundError
from glore.modeling import train_tokenizer
from glore.modeling.tokenizer import corpus_texts
from glore.tasks.arith import ArithTask


def _standin() -> Any:
    path = Path(__file__).resolve().parents[1] / "backends" / "vllm_standin.py"
    spec = importlib.util.spec_from_file_location("glore_tests_vllm_standin", path)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    models = {"student", "global", "local", "orm", "sorm"}
    with _standin().StandinServer(models=models) as srv:
        yield srv


def _spec(tmp_path: Path, url: str) -> Path:
    tok = train_tokenizer(corpus_texts(ArithTask().load("train", 50)), vocab_size=300)
    tok.save_pretrained(tmp_path / "tok")
    roles: dict[str, dict[str, str]] = {
        r: {"url": url, "model": r} for r in ("student", "global", "local")
    }
    roles |= {
        r: {"url": url, "model": r, "tokenizer": str(tmp_path / "tok")} for r in ("orm", "sorm")
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(roles))
    return path


def test_glore_runs_over_remote_backends(server: Any, tmp_path: Path) -> None:
    engine = GLoRe.from_pretrained(_spec(tmp_path, server.base_url))
    question = ArithTask().load("test", 1)[0].question
    result = engine.solve(question)
    assert [c.name for c in result.candidates] == ["draft", "global", "local"]
    draft = result.candidate("draft")
    assert draft.text.startswith("<") and draft.sorm_values and draft.orm_score is not None
    assert result.models["orm"] == "orm"
    paths = [path for path, _ in server.state.requests]
    assert "/v1/completions" in paths and "/pooling" in paths
    critique = engine.critique(question, "3 + 4 = 7\n7 - 2 = 4")
    assert len(critique.step_values) == 2


def test_bad_specs_are_named(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({"student": {"url": "http://x"}}))
    with pytest.raises(ConfigError, match="exactly the roles"):
        GLoRe.from_pretrained(path)
    roles = {r: {"path": str(tmp_path)} for r in ("student", "orm", "sorm", "global", "local")}
    roles["orm"] = {"url": "http://127.0.0.1:9", "model": "orm"}
    path.write_text(yaml.safe_dump(roles))
    with pytest.raises((ConfigError, ModelNotFoundError)):
        GLoRe.from_pretrained(path)
    with pytest.raises(ModelNotFoundError, match="neither a model store"):
        GLoRe.from_pretrained(tmp_path / "nothing")
    with pytest.raises(ModelNotFoundError, match="lacks student"):
        GLoRe.from_pretrained(tmp_path)
