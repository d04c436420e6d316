"""The remote generator against a server that takes one prompt per request and ignores `n`
(llama.cpp's Python server, `llamacpp_standin.py`), over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from glore.backends.base import SamplingParams
from glore.backends.remote import RemoteGenerator
from glore.backends.remote.http import _ONE_PROMPT_SERVERS
from tests.glore.backends import llamacpp_standin as llamacpp

FAST: dict[str, Any] = {"timeout_s": 2.0, "max_retries": 2, "backoff_s": 0.01}


@pytest.fixture
def llama() -> Iterator[Any]:
    """A fresh server (a fresh port) per test: what a backend learns is kept per server."""
    with llamacpp.LlamaCppServer() as srv:
        yield srv
    _ONE_PROMPT_SERVERS.discard(srv.base_url)  # a later server may get the same port


async def _generate(gen: RemoteGenerator, prompts: list[str], params: SamplingParams) -> Any:
    async with gen:
        return await gen.generate(prompts, params)


def _statuses(srv: Any) -> list[tuple[int, int]]:
    """(prompts in the request, status) of each recorded exchange."""
    out = []
    for body, status, _ in srv.llama.exchanges:
        prompt = body["prompt"]
        out.append((len(prompt) if isinstance(prompt, list) else 1, status))
    return out


def test_the_recorded_exchange_is_what_llama_cpp_answers(llama: Any) -> None:
    import httpx

    many = httpx.post(llama.base_url + "/v1/completions", json={"prompt": ["a", "b"]})
    assert many.status_code == 500
    assert many.json() == {
        "error": {"message": "", "type": "internal_server_error", "param": None, "code": None}
    }
    one = httpx.post(
        llama.base_url + "/v1/completions",
        json={"prompt": ["a"], "n": 3, "model": "any-name", "temperature": 0},
    )
    assert [c["text"] for c in one.json()["choices"]] == ["[a]"]
    assert httpx.get(llama.base_url + "/health").status_code == 404
    assert httpx.get(llama.base_url + "/v1/models").json()["data"][0]["id"] == llamacpp.MODEL_PATH


def test_a_500_with_no_message_to_many_prompts_means_one_prompt_per_request(
    llama: Any, caplog: pytest.LogCaptureFixture
) -> None:
    gen = RemoteGenerator(llama.base_url, "student", **FAST)
    prompts = ["q1", "q2", "q3"]
    with caplog.at_level(logging.WARNING, logger="glore.backends.remote"):
        out = asyncio.run(_generate(gen, prompts, SamplingParams(max_tokens=32)))
        assert [[c.text for c in per] for per in out] == [[f"[{p}]"] for p in prompts]
        # Diagnosed at the first 500 (no retries of it), then one prompt per request.
        assert _statuses(llama) == [(3, 500), (1, 200), (1, 200), (1, 200)]
        llama.reset()
        other = RemoteGenerator(llama.base_url, "global", **FAST)  # same server: remembered
        asyncio.run(_generate(other, prompts, SamplingParams(max_tokens=32)))
        assert _statuses(llama) == [(1, 200)] * 3
    notes = [r for r in caplog.records if "one prompt per request" in r.getMessage()]
    assert len(notes) == 1 and llama.base_url in notes[0].getMessage()


def test_sampling_tops_up_a_server_that_ignores_n_one_prompt_at_a_time(llama: Any) -> None:
    gen = RemoteGenerator(llama.base_url, "student", **FAST)
    out = asyncio.run(_generate(gen, ["a", "b"], SamplingParams(n=3, temperature=0.8)))
    assert [len({c.text for c in per}) for per in out] == [3, 3]  # distinct samples
    assert all(c.text.startswith("[a|") for c in out[0])
    assert {status for _, status in _statuses(llama)[1:]} == {200}
    assert all(size == 1 for size, _ in _statuses(llama)[1:])


def test_a_spec_says_one_prompt_per_request_up_front(llama: Any) -> None:
    gen = RemoteGenerator(llama.base_url, "student", max_prompts_per_request=1, **FAST)
    asyncio.run(_generate(gen, ["x", "y"], SamplingParams(max_tokens=32)))
    assert _statuses(llama) == [(1, 200), (1, 200)]
