"""Every limit and error answer over real HTTP, each a problem+json with its fields."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, get_args

import httpx
import pytest

from glore.engine.config import RERANKS, WHERES
from glore.engine.strategies import STRATEGIES
from glore.errors import BackendError, ModelNotFoundError
from glore.formats import CHECKS
from service.protocol import CheckStatus, RerankBy, StrategyName, Where
from tests.service.gateway_live import QUESTION, LiveServer, RaisingGenerator, scripted_engine

PROBLEM = "application/problem+json"


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["type"].startswith("https://glore.dev/problems/")
    assert body["title"] and body["detail"]
    return body


def field(body: dict[str, Any], *loc: str) -> dict[str, Any]:
    (error,) = [e for e in body["errors"] if tuple(e["loc"]) == ("body", *loc)]
    return error


@pytest.fixture
def live(serve: Callable[..., LiveServer]) -> LiveServer:
    return serve(engine=scripted_engine(), redis_url=None)


def test_the_strategy_names_of_the_api_are_the_engines() -> None:
    assert set(StrategyName.__args__) == set(STRATEGIES)  # type: ignore[attr-defined]
    assert set(get_args(Where)) == set(WHERES) and set(get_args(RerankBy)) == set(RERANKS)
    assert set(get_args(CheckStatus)) == set(CHECKS)


def test_a_body_over_the_limit_is_413(serve: Callable[..., LiveServer]) -> None:
    live = serve(engine=scripted_engine(), redis_url=None, max_body_bytes=2048)
    big = {"question": "x" * 3000}
    body = assert_problem(httpx.post(live.url + "/v1/solve", json=big), 413)
    assert "2048 bytes" in body["detail"]

    def chunks() -> Any:  # no Content-Length: counted as it streams
        yield b'{"question": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}'

    r = httpx.post(live.url + "/v1/solve", content=chunks())
    assert_problem(r, 413)


def test_a_question_over_the_configured_limit_is_422(serve: Callable[..., LiveServer]) -> None:
    live = serve(engine=scripted_engine(), redis_url=None, max_question_chars=100)
    r = httpx.post(live.url + "/v1/solve", json={"question": "x" * 101})
    error = field(assert_problem(r, 422), "question")
    assert error["allowed"] == "at most 100 characters"
    r = httpx.post(live.url + "/v1/solve", json={"question": "x" * 200_000})
    assert field(assert_problem(r, 422), "question")["type"] == "string_too_long"
    r = httpx.post(live.url + "/v1/critique", json={"question": "x" * 101, "solution": "1"})
    assert field(assert_problem(r, 422), "question")["allowed"] == "at most 100 characters"


def test_a_raised_limit_admits_longer_questions(serve: Callable[..., LiveServer]) -> None:
    live = serve(engine=scripted_engine(), redis_url=None, max_question_chars=5000)
    r = httpx.post(live.url + "/v1/solve", json={"question": QUESTION + " " * 3000})
    assert r.status_code == 200, r.text
    doc = httpx.get(live.url + "/openapi.json").json()
    props = doc["components"]["schemas"]["SolveRequest"]["properties"]
    assert props["question"]["maxLength"] == 5000


def test_a_solution_with_too_many_steps_or_characters_is_422(
    serve: Callable[..., LiveServer],
) -> None:
    live = serve(
        engine=scripted_engine(), redis_url=None, max_solution_steps=3, max_solution_chars=2000
    )
    steps = "\n".join(f"step {i} = <<1+1=2>>2" for i in range(4))
    r = httpx.post(live.url + "/v1/critique", json={"question": QUESTION, "solution": steps})
    error = field(assert_problem(r, 422), "solution")
    assert error["type"] == "too_many_steps" and error["allowed"] == "at most 3 steps"
    r = httpx.post(live.url + "/v1/critique", json={"question": QUESTION, "solution": "1" * 2001})
    assert field(assert_problem(r, 422), "solution")["allowed"] == "at most 2000 characters"


@pytest.mark.parametrize("max_tokens", [0, 257, 5000])
def test_max_tokens_out_of_bounds_is_422(live: LiveServer, max_tokens: int) -> None:
    body = {"question": QUESTION, "options": {"max_tokens": max_tokens}}
    error = field(assert_problem(httpx.post(live.url + "/v1/solve", json=body), 422),
                  "options", "max_tokens")  # fmt: skip
    assert error["allowed"] == ("at least 1" if max_tokens < 1 else "at most 256")


def test_messages_and_the_openapi_document_state_the_configured_limits(
    serve: Callable[..., LiveServer],
) -> None:
    """Not the settings' hard caps (100000 characters, 4096 tokens, 1000000 items)."""
    live = serve(
        engine=scripted_engine(), redis_url=None, max_tokens=32, max_question_chars=2000,
        max_job_items=50,
    )  # fmt: skip
    body = {"question": QUESTION, "options": {"max_tokens": 5000}}
    r = httpx.post(live.url + "/v1/solve", json=body)
    assert field(assert_problem(r, 422), "options", "max_tokens")["allowed"] == "at most 32"
    r = httpx.post(live.url + "/v1/solve", json={"question": "x" * 100_001})
    error = field(assert_problem(r, 422), "question")
    assert error["allowed"] == "at most 2000 characters" and "100000" not in r.text
    r = httpx.post(
        live.url + "/v1/chat/completions",
        json={"model": "glore", "messages": [{"role": "user", "content": QUESTION}],
              "max_tokens": 5000},
    )  # fmt: skip
    assert r.status_code == 400 and "at most 32" in r.json()["error"]["message"], r.text
    schemas = httpx.get(live.url + "/openapi.json").json()["components"]["schemas"]

    def prop(model: str, name: str) -> dict[str, Any]:
        p: dict[str, Any] = schemas[model]["properties"][name]
        return next((x for x in p.get("anyOf", []) if x.get("type") != "null"), p)

    assert prop("JobRequest", "items")["maxItems"] == 50
    assert prop("JobItem", "question")["maxLength"] == 2000
    assert prop("SolveRequest", "question")["maxLength"] == 2000
    assert prop("CritiqueRequest", "solution")["maxLength"] == 8000
    assert prop("SolveOptions", "max_tokens")["maximum"] == 32
    assert prop("ChatGreedyRequest", "max_tokens")["maximum"] == 32
    assert prop("ChatMessage", "content")["maxLength"] == 2000


def test_unknown_strategy_option_field_and_reveal_are_422(live: LiveServer) -> None:
    r = httpx.post(live.url + "/v1/solve", json={"question": QUESTION, "strategy": "magic"})
    error = field(assert_problem(r, 422), "strategy")
    assert error["type"] == "literal_error" and "'glore'" in error["allowed"]
    r = httpx.post(live.url + "/v1/solve", json={"question": QUESTION, "options": {"temp": 1}})
    assert field(assert_problem(r, 422), "options", "temp")["type"] == "extra_forbidden"
    r = httpx.post(
        live.url + "/v1/critique", json={"question": QUESTION, "solution": "1", "reveal": "all"}
    )
    assert field(assert_problem(r, 422), "reveal")["allowed"].startswith("one of")


def test_malformed_bodies_are_422_listing_each_field(live: LiveServer) -> None:
    r = httpx.post(
        live.url + "/v1/solve", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert assert_problem(r, 422)["errors"][0]["type"] == "json_invalid"
    r = httpx.post(live.url + "/v1/solve", json={"options": {"tau_when": 2, "mode": "never"}})
    body = assert_problem(r, 422)
    assert {tuple(e["loc"]) for e in body["errors"]} == {
        ("body", "question"), ("body", "options", "tau_when"), ("body", "options", "mode"),
    }  # fmt: skip
    assert all("allowed" in e and "input" not in e for e in body["errors"])
    r = httpx.post(live.url + "/v1/solve", json={"question": "   "})
    assert assert_problem(r, 422)["title"] == "Invalid input"  # the engine's own check


def test_unknown_routes_and_methods_are_problems_that_say_what_exists(live: LiveServer) -> None:
    body = assert_problem(httpx.get(live.url + "/v1/nothing"), 404)
    assert "GET /v1/nothing" in body["detail"] and "/openapi.json" in body["allowed"]
    r = httpx.get(live.url + "/v1/solve")
    body = assert_problem(r, 405)
    assert "POST" in r.headers["allow"] and body["allowed"] == "POST"
    assert "GET is not allowed on /v1/solve" in body["detail"]


@pytest.mark.parametrize(
    ("content", "kind", "allowed"),
    [
        (b'{"question": "\xff\xfe"}', "body_not_utf8", "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "json_too_deep", "nested"),
        (b'{"question": "q", "options": {"seed": ' + b"9" * 5000 + b"}}", "int_too_long",
         "at most 4300 digits"),
    ],
)  # fmt: skip
def test_unreadable_bodies_say_what_was_wrong_and_what_is_allowed(
    live: LiveServer, content: bytes, kind: str, allowed: str
) -> None:
    headers = {"content-type": "application/json"}
    body = assert_problem(httpx.post(live.url + "/v1/solve", content=content, headers=headers), 400)
    (error,) = body["errors"]
    assert error["type"] == kind and allowed in error["allowed"], body
    assert "error parsing the body" not in body["detail"]


def test_a_full_server_answers_503_at_once(serve: Callable[..., LiveServer]) -> None:
    live = serve(engine=scripted_engine(delay=1.0), redis_url=None, max_in_flight=1)
    results: list[int] = []
    first = threading.Thread(
        target=lambda: results.append(
            httpx.post(live.url + "/v1/solve", json={"question": QUESTION}, timeout=10).status_code
        )
    )
    first.start()
    state = live.app.state.glore
    deadline = time.monotonic() + 5
    while state.gate.count == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    r = httpx.post(live.url + "/v1/solve", json={"question": QUESTION})
    assert r.elapsed.total_seconds() < 0.5
    assert assert_problem(r, 503)["title"] == "Overloaded" and r.headers["retry-after"] == "1"
    r = httpx.post(live.url + "/v1/solve", json={"question": QUESTION, "stream": True})
    assert_problem(r, 503)
    first.join()
    assert results == [200] and state.gate.count == 0


def test_a_slow_pipeline_is_cut_at_the_timeout_with_504(serve: Callable[..., LiveServer]) -> None:
    live = serve(engine=scripted_engine(delay=5.0), redis_url=None, request_timeout_s=0.3)
    r = httpx.post(live.url + "/v1/solve", json={"question": QUESTION}, timeout=10)
    assert "0.3 s" in assert_problem(r, 504)["detail"]
    assert r.elapsed.total_seconds() < 2
    assert live.app.state.glore.gate.count == 0
    with httpx.stream(
        "POST", live.url + "/v1/solve", json={"question": QUESTION, "stream": True}, timeout=10
    ) as r:
        text = r.read().decode()
    assert r.status_code == 200 and "event: error" in text and '"status":504' in text


@pytest.mark.parametrize(
    ("error", "status", "title"),
    [
        (BackendError("vLLM at http://gpu:8000 timed out"), 503, "Backend unavailable"),
        (BackendError("vLLM refused the model", retryable=False), 502, "Backend failed"),
        (ModelNotFoundError("no model 'student' on http://gpu:8000"), 503, "Models unavailable"),
        (RuntimeError("secret internals /srv/key"), 500, "Internal server error"),
    ],
)
def test_engine_failures_map_to_problems(
    serve: Callable[..., LiveServer], error: Exception, status: int, title: str
) -> None:
    live = serve(engine=scripted_engine(student=RaisingGenerator(error)), redis_url=None)
    r = httpx.post(live.url + "/v1/solve", json={"question": QUESTION})
    body = assert_problem(r, status)
    assert body["title"] == title
    assert ("retry-after" in r.headers) == (status == 503)
    if status == 500:
        assert "secret" not in r.text and "Traceback" not in r.text
    with httpx.stream(
        "POST", live.url + "/v1/solve", json={"question": QUESTION, "stream": True}
    ) as s:
        text = s.read().decode()
    assert f'"status":{status}' in text and "secret" not in text
    assert live.app.state.glore.gate.count == 0
