"""/healthz, /readyz (models, Redis, remote backends) and /metrics, over real HTTP."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.gateway_live import QUESTION, LiveServer, scripted_engine
from tests.service.test_gateway_limits import assert_problem

REDIS = "redis://127.0.0.1:6379/0"


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _checks(r: httpx.Response) -> dict[str, bool]:
    return {c["name"]: c["ok"] for c in r.json()["checks"]}


def test_healthz_answers(serve: Callable[..., LiveServer]) -> None:
    live = serve(engine=scripted_engine(), redis_url=None)
    r = httpx.get(live.url + "/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379 (.ci/run starts one)")
def test_readyz_is_200_with_models_and_redis(serve: Callable[..., LiveServer]) -> None:
    live = serve(engine=scripted_engine(), redis_url=REDIS)
    r = httpx.get(live.url + "/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    assert _checks(r) == {"models": True, "redis": True}


def test_readyz_is_503_naming_an_unreachable_redis(serve: Callable[..., LiveServer]) -> None:
    url = f"redis://:secret-pw@127.0.0.1:{_free_port()}/0"
    live = serve(engine=scripted_engine(), redis_url=url, ready_timeout_s=0.5)
    r = httpx.get(live.url + "/readyz")
    body = assert_problem(r, 503)
    assert _checks(r) == {"models": True, "redis": False} and "redis" in body["detail"]
    assert "secret-pw" not in r.text
    # Without Redis the pipeline still serves (only the job routes need it).
    assert httpx.post(live.url + "/v1/solve", json={"question": QUESTION}).status_code == 200


def test_readyz_names_a_malformed_redis_url(serve: Callable[..., LiveServer]) -> None:
    live = serve(engine=scripted_engine(), redis_url="nonsense://x")
    r = httpx.get(live.url + "/readyz")
    assert_problem(r, 503)
    assert _checks(r) == {"models": True, "redis": False}


def test_models_that_fail_to_load_leave_the_process_up_and_not_ready(
    serve: Callable[..., LiveServer], tmp_path: Path
) -> None:
    live = serve(models=str(tmp_path / "no-store"), redis_url=None)
    assert httpx.get(live.url + "/healthz").status_code == 200
    r = httpx.get(live.url + "/readyz")
    assert_problem(r, 503)
    (models,) = r.json()["checks"]
    assert models["name"] == "models" and not models["ok"] and "no-store" in models["detail"]
    r = httpx.post(live.url + "/v1/solve", json={"question": QUESTION})
    assert assert_problem(r, 503)["title"] == "Models unavailable" and "retry-after" in r.headers


def test_readyz_asks_each_remote_server_of_a_spec(
    serve: Callable[..., LiveServer], tmp_path: Path
) -> None:
    up = serve(engine=scripted_engine(), redis_url=None)  # any HTTP server answers /health
    down = f"http://127.0.0.1:{_free_port()}"
    spec = {r: {"url": up.url, "model": r} for r in ("student", "global", "local")}
    spec |= {r: {"url": down, "model": r, "tokenizer": "t"} for r in ("orm", "sorm")}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    # 5 s: a loaded machine can be slow to answer; the refused port fails at once anyway
    live = serve(engine=scripted_engine(), redis_url=None, models=str(path), ready_timeout_s=5.0)
    r = httpx.get(live.url + "/readyz")
    assert_problem(r, 503)
    assert _checks(r) == {"models": True, f"backend:{up.url}": True, f"backend:{down}": False}


def test_metrics_name_every_series_after_a_solve(serve: Callable[..., LiveServer]) -> None:
    live = serve(engine=scripted_engine(), redis_url=None)
    assert httpx.post(live.url + "/v1/solve", json={"question": QUESTION}).status_code == 200
    httpx.post(live.url + "/v1/critique", json={"question": QUESTION, "solution": "1\n#### 1"})
    httpx.post(live.url + "/v1/solve", json={"question": ""})
    r = httpx.get(live.url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    for name in (
        'glore_http_requests_total{method="POST",route="/v1/solve",status="200"}',
        'glore_http_requests_total{method="POST",route="/v1/solve",status="422"}',
        'glore_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/solve"',
        'glore_stage_duration_seconds_count{stage="draft"}',
        'glore_stage_duration_seconds_count{stage="local"}',
        'glore_tokens_total{stage="draft"}',
        'glore_solves_total{degraded="false",refined="true",strategy="glore"}',
        'glore_winner_total{strategy="glore",winner="local"}',
        "glore_in_flight_requests 0.0",
        "glore_critiques_total",
        "glore_job_outcomes_total",
        "glore_queue_depth",
    ):
        assert name in text, name


def _backend_standin(name: str) -> Any:
    path = Path(__file__).resolve().parents[1] / "glore" / "backends" / f"{name}.py"
    key = f"glore_tests_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module


def test_readyz_does_not_count_a_404_on_health_as_ready(
    serve: Callable[..., LiveServer], tmp_path: Path
) -> None:
    vllm = _backend_standin("vllm_standin").StandinServer().start()
    llama = _backend_standin("llamacpp_standin").LlamaCppServer().start()
    try:
        wrong = vllm.base_url + "/v1"  # a common slip: /v1/health and /v1/v1/models are 404
        spec = {"student": {"url": vllm.base_url, "model": "student"}}
        spec |= {r: {"url": llama.base_url, "model": r} for r in ("global", "local")}
        spec |= {r: {"url": wrong, "model": r, "tokenizer": "t"} for r in ("orm", "sorm")}
        path = tmp_path / "spec.json"
        path.write_text(json.dumps(spec))
        live = serve(engine=scripted_engine(), redis_url=None, models=str(path))
        r = httpx.get(live.url + "/readyz")
        assert_problem(r, 503)
        checks = {c["name"]: c for c in r.json()["checks"]}
        assert checks[f"backend:{vllm.base_url}"]["ok"] is True
        assert checks[f"backend:{llama.base_url}"]["ok"] is True  # no /health, lists models
        assert "GET /v1/models answered 200" in checks[f"backend:{llama.base_url}"]["detail"]
        assert checks[f"backend:{wrong}"]["ok"] is False
        assert "without /v1" in checks[f"backend:{wrong}"]["detail"]
    finally:
        vllm.stop()
        llama.stop()
