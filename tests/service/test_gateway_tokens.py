"""A question within the character limit but over the models' context in tokens: 422
before any work, on every route that solves, over real HTTP on the real store."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from glore.engine.strategies import PLANS
from service.protocol import StrategyName
from service.token_limits import refiners
from tests.service.gateway_live import LiveServer
from tests.service.jobs_support import REDIS_URL, clean_prefix, require_redis
from tests.service.test_gateway_limits import assert_problem, field

LONG = {"a": "a" * 2000, "emoji": "\N{GRINNING FACE}" * 2000}


def _too_many(body: dict[str, Any], *loc: str | int) -> dict[str, Any]:
    error = field(body, *loc)
    assert error["type"] == "too_many_tokens", error
    limit = int(str(error["allowed"]).removeprefix("at most ").removesuffix(" tokens"))
    assert 0 < limit <= 1024 and "context is 1024 tokens" in str(error["msg"]), error
    return error


def test_the_refiners_of_each_strategy_are_listed() -> None:
    assert set(PLANS) == set(StrategyName.__args__)  # type: ignore[attr-defined]
    assert refiners("greedy") == () and refiners("glore") == ("global", "local")
    assert refiners("glore_repair") == ("global", "local", "repair")


def test_a_question_over_the_context_in_tokens_is_422(real_server: LiveServer) -> None:
    url = real_server.url
    for text in LONG.values():
        for stream in (False, True):
            r = httpx.post(url + "/v1/solve", json={"question": text, "stream": stream})
            error = _too_many(assert_problem(r, 422), "question")
            assert "the question is" in str(error["msg"])
    r = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "glore", "messages": [{"role": "user", "content": LONG["a"]}]},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages", r.text
    assert "context is 1024 tokens" in r.json()["error"]["message"]
    r = httpx.post(url + "/v1/completions", json={"model": "greedy", "prompt": LONG["emoji"]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt", r.text


def test_the_limit_holds_room_for_the_prompts_the_strategy_builds(
    real_server: LiveServer,
) -> None:
    """Greedy reads a question and a draft; glore's local refiner a question, a draft and
    the steps it keeps: a question can fit the first and not the second."""
    body = {"question": "a" * 600, "strategy": "glore", "options": {"max_tokens": 256}}
    r = httpx.post(real_server.url + "/v1/solve", json=body)
    error = _too_many(assert_problem(r, 422), "question")
    counted = re.match(
        r"the question is (\d+) tokens; at most \d+ fit the local model", error["msg"]
    )
    assert counted and 590 <= int(counted[1]) <= 610, error  # "a" * 600: 601 tokens alone
    greedy = {**body, "strategy": "greedy"}
    assert httpx.post(real_server.url + "/v1/solve", json=greedy, timeout=60).status_code == 200
    shorter = {**body, "options": {"max_tokens": 8}}  # less room held for the drafts
    assert httpx.post(real_server.url + "/v1/solve", json=shorter, timeout=60).status_code == 200


def test_a_job_item_over_the_context_is_refused_at_submission(
    serve: Callable[..., LiveServer], real_store: Path
) -> None:
    require_redis()
    prefix = "test:tokens:submit"
    live = serve(models=str(real_store), redis_url=REDIS_URL, job_prefix=prefix)
    items = [{"question": "What is 2 plus 3?"}, {"question": LONG["a"]}]
    try:
        r = httpx.post(live.url + "/v1/jobs", json={"items": items})
        body = assert_problem(r, 422)
        assert [e["loc"] for e in body["errors"]] == [["body", "items", 1, "question"]]
        _too_many(body, "items", 1, "question")
        r = httpx.post(live.url + "/v1/jobs", json={"items": items[:1]})
        assert r.status_code == 202, r.text
    finally:
        clean_prefix(REDIS_URL, prefix)


def test_a_critique_over_the_context_in_tokens_is_422(real_server: LiveServer) -> None:
    """Within GLORE_MAX_SOLUTION_CHARS (8000) but not within 1024 tokens."""
    solution = "\n".join(["Mia has 3 + 4 = <<3+4=7>>7 apples " + "a" * 150] * 6 + ["#### 7"])
    body = {"question": "How many apples?", "solution": solution, "reveal": "location"}
    r = httpx.post(real_server.url + "/v1/critique", json=body)
    error = _too_many(assert_problem(r, 422), "solution")
    assert "question and solution are" in str(error["msg"])
    fits = {**body, "solution": "3 + 4 = <<3+4=7>>7\n#### 7", "reveal": "full"}
    assert httpx.post(real_server.url + "/v1/critique", json=fits, timeout=60).status_code == 200
