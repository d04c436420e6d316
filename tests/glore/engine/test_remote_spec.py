"""The pipeline over remote backends: a spec file names vLLM servers for every role, and
GLoRe runs over real HTTP against the stand-in server (vLLM's documented shapes)."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from glore import GLoRe
from glore.backends.remote.http import _ONE_PROMPT_SERVERS
from glore.engine.loading import load_models
from glore.errors import ConfigError, ModelNotFoundError
from glore.modeling import train_tokenizer
from glore.modeling.tokenizer import corpus_texts
from glore.tasks.arith import ArithTask
from tests.glore.backends import llamacpp_standin, vllm_standin


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    models = {"student", "global", "local", "orm", "sorm"}
    with vllm_standin.StandinServer(models=models) as srv:
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


def _write(tmp_path: Path, roles: dict[str, Any]) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(roles))
    return path


GENERATOR_OPTIONS: dict[str, Any] = {
    "timeout_s": 7.0,
    "connect_timeout_s": 1.5,
    "deadline_s": 30,
    "max_retries": 1,
    "backoff_s": 0.1,
    "max_connections": 4,
    "max_prompts_per_request": 1,
    "max_topup_rounds": 0,
    "return_token_ids": False,
}
SCORER_OPTIONS: dict[str, Any] = {
    "activation": "sigmoid",
    "timeout_s": 9.0,
    "connect_timeout_s": 2.0,
    "deadline_s": 40.0,
    "max_retries": 0,
    "backoff_s": 0.0,
    "max_connections": 2,
    "max_items_per_request": 8,
}


def test_every_remote_backend_option_is_settable_per_role(server: Any, tmp_path: Path) -> None:
    roles = yaml.safe_load(_spec(tmp_path, server.base_url).read_text())
    roles["student"] |= GENERATOR_OPTIONS
    roles["orm"] |= SCORER_OPTIONS
    models = load_models(_write(tmp_path, roles))
    for key, value in GENERATOR_OPTIONS.items():
        assert getattr(models.student, key) == value, key
    for key, value in SCORER_OPTIONS.items():
        assert getattr(models.orm, key) == value, key
    assert models.global_refiner.max_prompts_per_request == 256  # the default elsewhere


@pytest.mark.parametrize(
    "case",
    [
        ("student", "max_prompts_per_request", "1", "must be an integer"),
        ("student", "return_token_ids", 1, "must be true or false"),
        ("student", "deadline_s", 0, "deadline_s must be positive"),
        ("orm", "activation", "softmax", "one of 'sigmoid', 'none'"),
        ("orm", "max_prompts_per_request", 4, "unknown keys"),
    ],
)
def test_bad_remote_options_name_the_role_and_key(
    server: Any, tmp_path: Path, case: tuple[str, str, Any, str]
) -> None:
    role, key, value, says = case
    roles = yaml.safe_load(_spec(tmp_path, server.base_url).read_text())
    roles[role][key] = value
    with pytest.raises(ConfigError, match=f"role '{role}'") as info:
        load_models(_write(tmp_path, roles))
    assert says in info.value.message and key in info.value.message


def test_a_model_name_the_server_does_not_list_fails_at_start_up(
    server: Any, tmp_path: Path
) -> None:
    roles = yaml.safe_load(_spec(tmp_path, server.base_url).read_text())
    roles["local"]["model"] = "locl"
    with pytest.raises(ModelNotFoundError, match="role 'local': model 'locl'") as info:
        load_models(_write(tmp_path, roles))
    assert "'global'" in info.value.message and "'student'" in info.value.message


def test_a_server_without_a_models_list_is_logged_as_unchecked(
    server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    roles = yaml.safe_load(_spec(tmp_path, server.base_url).read_text())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}"
    roles["student"]["url"] = down
    with caplog.at_level(logging.WARNING, logger="glore.backends.remote"):
        load_models(_write(tmp_path, roles))
    (note,) = [r.getMessage() for r in caplog.records if "not checked" in r.getMessage()]
    assert down in note and "student='student'" in note


def test_solve_batch_over_a_one_prompt_server_from_a_spec(server: Any, tmp_path: Path) -> None:
    module = llamacpp_standin
    with module.LlamaCppServer() as llama:
        roles = yaml.safe_load(_spec(tmp_path, server.base_url).read_text())
        for r in ("student", "global", "local"):
            roles[r] = {"url": llama.base_url, "model": "student"}
        with pytest.raises(ModelNotFoundError, match=r"it serves '/models/student\.Q8_0\.gguf'"):
            load_models(_write(tmp_path, roles))  # llama.cpp answers any name: check it here
        for r in ("student", "global", "local"):
            roles[r] = {"url": llama.base_url, "model": module.MODEL_PATH}
        engine = GLoRe.from_pretrained(_write(tmp_path, roles))
        questions = [t.question for t in ArithTask().load("test", 3)]
        results = engine.solve_batch(questions)
        assert [r.candidate("draft").text.startswith("[") for r in results] == [True] * 3
        sizes = {len(b["prompt"]) if isinstance(b["prompt"], list) else 1 for b, s, _ in
                 llama.llama.exchanges if s == 200}  # fmt: skip
        assert sizes == {1}
    _ONE_PROMPT_SERVERS.discard(llama.base_url)
