"""The OpenAI-compatible routes with the official `openai` client over loopback: on the real
model store (the served default when present), and on scripted backends where a limit
must be hit quickly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from service.app import create_app
from service.openai_protocol import MODELS
from tests.service.gateway_live import QUESTION, LiveServer, scripted_engine, settings

KEY = "openai-key-0123456789"
MAX_TOKENS = 48


@pytest.fixture(scope="module")
def live(real_store: Path) -> Iterator[LiveServer]:
    """The gateway as `glore serve` builds it on the real store, with a key and limits."""
    app = create_app(
        settings(
            models=str(real_store),
            redis_url=None,
            api_keys=[KEY],
            max_question_chars=400,
            max_tokens=MAX_TOKENS,
        )
    )
    server = LiveServer(app)
    yield server
    server.stop()


def client(live: LiveServer, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=live.url + "/v1", api_key=key, max_retries=0, timeout=120)


def native(live: LiveServer, strategy: str = "glore", **options: Any) -> dict[str, Any]:
    """The same question through /v1/solve: what the OpenAI routes must agree with."""
    body = {"question": QUESTION, "strategy": strategy, "options": options}
    r = httpx.post(
        live.url + "/v1/solve", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=120
    )
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def winner_text(result: dict[str, Any]) -> str:
    (win,) = [c for c in result["candidates"] if c["name"] == result["winner"]]
    text: str = win["text"]
    return text


def test_chat_completion_is_the_winning_solution_with_every_token_counted(
    live: LiveServer,
) -> None:
    reply = client(live).chat.completions.create(
        model="glore",
        messages=[
            {"role": "system", "content": "You are a careful tutor."},
            {"role": "user", "content": QUESTION},
        ],
    )
    expected = native(live, mode="always")
    assert reply.object == "chat.completion" and reply.model == "glore"
    (choice,) = reply.choices
    assert choice.message.role == "assistant"
    assert choice.message.content == winner_text(expected)
    assert choice.finish_reason in ("stop", "length")
    tokens = sum(s["tokens"] for s in expected["stages"].values())
    assert reply.usage is not None and reply.usage.completion_tokens == tokens > 0
    assert reply.usage.total_tokens == tokens
    detail = (reply.model_extra or {})["glore"]
    assert detail["winner"] == expected["winner"] and detail["reason"] == expected["reason"]
    assert detail["degraded"] is False and detail["strategy"] == "glore"
    draft = detail["candidates"][0]
    assert draft["name"] == "draft" and isinstance(draft["first_error_flagged"], bool)
    # "The draft's first wrong step; null if none": the restart step only when flagged.
    flagged = draft["first_error"] if draft["first_error_flagged"] else None
    assert detail["first_error"] == flagged
    assert len(draft["sorm_values"]) == len(draft["steps"]) and draft["orm_score"] is not None


def test_completion_maps_the_model_and_the_sampling_parameters(live: LiveServer) -> None:
    reply = client(live).completions.create(
        model="best-of-n", prompt=QUESTION, temperature=0.7, seed=5, max_tokens=32, best_of=2
    )
    expected = native(live, "best_of_n", temperature=0.7, seed=5, max_tokens=32, best_of=2)
    assert reply.object == "text_completion"
    assert reply.choices[0].text == winner_text(expected)
    detail = (reply.model_extra or {})["glore"]
    assert detail["strategy"] == "best_of_n"
    assert [c["name"] for c in detail["candidates"]] == ["sample-0", "sample-1"]
    assert all(c["tokens"] <= 32 for c in detail["candidates"])


def test_streamed_chat_sends_the_stages_then_the_winner(live: LiveServer) -> None:
    stream = client(live).chat.completions.create(
        model="glore-gated",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    stages = [(c.model_extra or {}).get("glore") for c in chunks]
    at = {s["stage"]: i for i, s in enumerate(stages) if s}
    names = [s["stage"] for s in stages if s]
    assert names[:3] == ["draft", "orm", "sorm"] and names[-1] == "final"
    final = stages[at["final"]]
    assert final is not None and final["data"]["winner"] == native(live, mode="gated")["winner"]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == winner_text(final["data"])
    # The text comes once the winner is known: after every stage chunk, before `final`.
    with_text = [i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content]
    assert max(at[n] for n in names[:-1]) < min(with_text) <= max(with_text) < at["final"]
    assert chunks[at["final"]].choices[0].finish_reason in ("stop", "length")
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == sum(
        s["tokens"] for s in final["data"]["stages"].values()
    )


def test_streamed_completion_ends_with_the_winner(live: LiveServer) -> None:
    chunks = list(client(live).completions.create(model="greedy", prompt=QUESTION, stream=True))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == winner_text(native(live, "greedy"))
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert (chunks[-1].model_extra or {})["glore"]["stage"] == "final"


def test_the_model_list_is_the_strategies(live: LiveServer) -> None:
    c = client(live)
    listed = [m.id for m in c.models.list()]
    assert listed == list(MODELS)
    assert {"glore", "glore-gated", "greedy", "best-of-n", "global", "local", "multi-round"} <= set(
        listed
    )
    assert c.models.retrieve("glore-gated").id == "glore-gated"
    with pytest.raises(openai.NotFoundError, match="no model 'gpt-4'"):
        c.models.retrieve("gpt-4")


def test_a_bad_key_is_an_authentication_error(live: LiveServer) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client(live, "not-the-key").chat.completions.create(
            model="glore", messages=[{"role": "user", "content": QUESTION}]
        )
    assert caught.value.status_code == 401
    assert caught.value.message.endswith("the API key is not valid")
    assert caught.value.type == "authentication_error" and caught.value.code == "unauthorized"
    with pytest.raises(openai.AuthenticationError):
        client(live, "not-the-key").models.list()


def test_over_a_limit_is_a_bad_request_with_the_message(live: LiveServer) -> None:
    c = client(live)
    with pytest.raises(openai.BadRequestError) as caught:
        c.chat.completions.create(model="glore", messages=[{"role": "user", "content": "x" * 500}])
    err = caught.value
    assert "the question has 500 characters; at most 400 are allowed" in err.message
    assert err.param == "messages.0.content" and err.type == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as caught:
        c.completions.create(model="glore", prompt=QUESTION, max_tokens=MAX_TOKENS + 1)
    assert (
        f"max_tokens is {MAX_TOKENS + 1}; at most {MAX_TOKENS} are allowed" in caught.value.message
    )
    assert caught.value.param == "max_tokens"


@pytest.mark.parametrize(
    ("params", "param", "says"),
    [
        ({"temperature": 0.7}, "temperature", "decodes greedily"),
        ({"n": 2}, "n", "one solution"),
        ({"top_p": 0.9}, "top_p", "nucleus"),
        ({"stop": ["\n"]}, "stop", "stop sequences"),
        ({"logprobs": True}, "logprobs", "log probabilities"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools", "Extra inputs"),
        ({"model": "gpt-4"}, "model", "does not match"),
    ],
)
def test_what_glore_cannot_honour_is_refused_saying_so(
    live: LiveServer, params: dict[str, Any], param: str, says: str
) -> None:
    body: dict[str, Any] = {"model": "glore", "messages": [{"role": "user", "content": QUESTION}]}
    with pytest.raises(openai.BadRequestError) as caught:
        client(live).chat.completions.create(**{**body, **params})
    assert caught.value.param == param and says in caught.value.message


def test_errors_have_openais_shape_even_from_the_body_limit(
    serve: Callable[..., LiveServer],
) -> None:
    live = serve(engine=scripted_engine(), redis_url=None, max_body_bytes=2048)
    r = httpx.post(live.url + "/v1/completions", json={"model": "glore", "prompt": "x" * 3000})
    assert r.status_code == 413 and r.headers["content-type"] == "application/json"
    assert r.json() == {
        "error": {
            "message": "the request body is over the limit of 2048 bytes",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_body_too_large",
        }
    }
    # The native routes keep problem+json.
    r = httpx.post(live.url + "/v1/solve", json={"question": "x" * 3000})
    assert r.status_code == 413 and r.headers["content-type"].startswith("application/problem")


def test_the_rate_limit_is_the_native_routes(serve: Callable[..., LiveServer]) -> None:
    live = serve(engine=scripted_engine(), redis_url=None, api_keys=[KEY], rate_limit_per_minute=2)
    c = client(live)
    c.models.list()
    c.completions.create(model="glore", prompt=QUESTION)
    with pytest.raises(openai.RateLimitError, match="at most 2 requests per minute per key"):
        c.completions.create(model="glore", prompt=QUESTION)
    r = httpx.post(
        live.url + "/v1/solve",
        json={"question": QUESTION},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert r.status_code == 429  # one budget for both surfaces


def test_a_full_server_refuses_a_stream_before_it_starts(serve: Callable[..., LiveServer]) -> None:
    live = serve(engine=scripted_engine(delay=2.0), redis_url=None, max_in_flight=1)
    body = {"model": "greedy", "prompt": QUESTION, "stream": True}
    with httpx.stream("POST", live.url + "/v1/completions", json=body, timeout=30) as first:
        assert first.status_code == 200
        second = httpx.post(live.url + "/v1/completions", json=body, timeout=30)
        assert second.status_code == 503
        assert "limit of 1 requests" in second.json()["error"]["message"]
        assert second.headers["retry-after"] == "1"
        lines = [line for line in first.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
