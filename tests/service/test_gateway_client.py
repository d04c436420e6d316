"""`service.client`: the sync and async clients against a live gateway, errors included."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from service.client import (
    AsyncGloreClient,
    GloreClient,
    InvalidRequest,
    Overloaded,
    RateLimited,
    ServiceError,
    TimedOut,
    Unauthorized,
    error_from,
)
from service.protocol import STAGES
from tests.service.gateway_live import QUESTION, LiveServer, scripted_engine

KEY = "k-client-0123456789"


@pytest.fixture
def live(serve: Callable[..., LiveServer]) -> LiveServer:
    return serve(engine=scripted_engine(), redis_url=None, api_keys=[KEY])


def test_solve_stream_and_critique(live: LiveServer) -> None:
    with GloreClient(live.url, api_key=KEY) as client:
        result = client.solve(QUESTION, mode="gated", tau_when=0.1)
        assert result.winner == "draft" and not result.refined
        assert client.solve(QUESTION).answer == "5"
        stream = list(client.solve_stream(QUESTION))
        assert [e.stage for e in stream] == [s for s in STAGES if s != "repair"]
        final = stream[-1].result
        assert final is not None and final.answer == "5"
        c = client.critique(QUESTION, "3 + 4 = <<3+4=7>>7\n7 - 2 = <<7-2=4>>4\n#### 4")
        assert c.first_error == 1 and c.source == "arithmetic"
        assert c.checks[1].check == "wrong" and c.checks[1].expected == "5"
        assert client.health() and client.ready().checks[0].name == "models"


def test_the_async_client(live: LiveServer) -> None:
    async def main() -> None:
        async with AsyncGloreClient(live.url, api_key=KEY) as client:
            assert (await client.solve(QUESTION)).answer == "5"
            stages = [e.stage async for e in client.solve_stream(QUESTION, strategy="local")]
            assert stages == ["draft", "orm", "sorm", "local", "final"]
            c = await client.critique(QUESTION, "1\n#### 1", reveal="location")
            assert c.reveal == "location"
            assert await client.health()
            with pytest.raises(InvalidRequest):
                await client.solve(QUESTION, max_tokens=100_000)

    asyncio.run(main())


def test_errors_map_to_exceptions(live: LiveServer, serve: Callable[..., LiveServer]) -> None:
    with GloreClient(live.url, api_key="wrong") as client, pytest.raises(Unauthorized) as e:
        client.solve(QUESTION)
    assert e.value.status == 401 and e.value.title == "Unauthorized"
    with GloreClient(live.url, api_key=KEY) as client:
        with pytest.raises(InvalidRequest) as bad:
            client.solve(QUESTION, strategy="magic", tau_where=3)
        assert {tuple(x["loc"]) for x in bad.value.errors} == {
            ("body", "strategy"), ("body", "options", "tau_where"),
        }  # fmt: skip
        with pytest.raises(InvalidRequest):
            list(client.solve_stream(""))

    limited = serve(engine=scripted_engine(), redis_url=None, rate_limit_per_minute=1)
    with GloreClient(limited.url) as client:
        client.solve(QUESTION)
        with pytest.raises(RateLimited) as rl:
            client.solve(QUESTION)
        assert rl.value.retry_after is not None and rl.value.retry_after >= 1
        assert rl.value.retryable


def test_overload_and_timeout_map_to_exceptions(serve: Callable[..., LiveServer]) -> None:
    slow = serve(
        engine=scripted_engine(delay=1.0), redis_url=None, max_in_flight=1, request_timeout_s=0.5
    )
    with GloreClient(slow.url) as client:
        with pytest.raises(TimedOut):
            client.solve(QUESTION)
        with pytest.raises(TimedOut):  # a stream's error event raises too
            list(client.solve_stream(QUESTION))
        errors: list[Exception] = []

        def occupy() -> None:
            try:
                client.solve(QUESTION)
            except ServiceError as exc:
                errors.append(exc)

        first = threading.Thread(target=occupy)
        first.start()
        deadline = time.monotonic() + 5
        while slow.app.state.glore.gate.count == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        with pytest.raises(Overloaded) as over:
            GloreClient(slow.url).solve(QUESTION)
        assert over.value.retry_after == 1.0
        first.join()
        assert [type(x) for x in errors] == [TimedOut]


def test_a_body_that_is_not_a_problem_still_maps() -> None:
    err = error_from(502, "<html>bad gateway</html>")
    assert type(err) is ServiceError and err.status == 502 and "bad gateway" in err.detail
