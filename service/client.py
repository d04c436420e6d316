"""A typed client of the HTTP API, sync (`GloreClient`) and async (`AsyncGloreClient`).

    with GloreClient("http://127.0.0.1:8000", api_key="...") as client:
        result = client.solve("Mia has 3 apples...", strategy="glore", mode="gated")
        for event in client.solve_stream("..."):   # draft, orm, sorm, global, local, final
            print(event.stage, event.data)

Every problem+json error becomes a `ServiceError` (`Unauthorized`, `RateLimited`,
`Overloaded`, `InvalidRequest`, `TimedOut`), with the status, title, detail and body.

Extension point: the methods of other route families (the job queue's `submit_job`, `wait`,
`iter_results`) come as mixins built on `_send` / `_send_json` (sync) and `_asend` /
`_asend_json` (async), e.g. `class GloreClient(JobsMixin, SyncTransport)`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx

from service.protocol import CritiqueResponse, Readiness, SolveResponse

DEFAULT_TIMEOUT_S = 120.0


class ServiceError(Exception):
    """An error answer of the service (problem+json), or a body that is not one."""

    def __init__(
        self, status: int, title: str, detail: str, body: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status, self.title, self.detail = status, title, detail
        self.body = body or {}

    @property
    def retryable(self) -> bool:
        return self.status in (429, 502, 503, 504)


class InvalidRequest(ServiceError):  # noqa: N818 - short names, as callers catch them
    """400, 413 or 422: the request is malformed or over a limit; `errors` says which field."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.body.get("errors") or [])


class Unauthorized(ServiceError):  # noqa: N818
    """401: no API key, or not a valid one."""


class _RetryAfter(ServiceError):  # noqa: N818
    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        body: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, title, detail, body)
        self.retry_after = retry_after
        """Seconds the server asked to wait (Retry-After), when it said."""


class RateLimited(_RetryAfter):
    """429: over the per-key rate limit."""


class Overloaded(_RetryAfter):
    """503: the server is full, its models are not loaded, or a backend is down."""


class TimedOut(ServiceError):  # noqa: N818
    """504: the pipeline ran past the server's request time limit."""


_BY_STATUS: dict[int, type[ServiceError]] = {
    400: InvalidRequest,
    413: InvalidRequest,
    422: InvalidRequest,
    401: Unauthorized,
    429: RateLimited,
    503: Overloaded,
    504: TimedOut,
}


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def error_from(status: int, body: Any, retry_after: str | None = None) -> ServiceError:
    """The exception for an error status and its (problem+json) body."""
    problem = body if isinstance(body, dict) else {}
    title = str(problem.get("title") or "Error")
    detail = str(problem.get("detail") or (body if isinstance(body, str) else ""))
    cls = _BY_STATUS.get(status, ServiceError)
    if issubclass(cls, _RetryAfter):
        return cls(status, title, detail, problem, _retry_after(retry_after))
    return cls(status, title, detail, problem)


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:1000]
    raise error_from(response.status_code, body, response.headers.get("Retry-After"))


@dataclass(frozen=True)
class StageEvent:
    """One server-sent event of a streamed solve: `draft`, `orm`, `sorm`, `global`,
    `local`, then `final` (whose `result` is the whole answer)."""

    stage: str
    data: dict[str, Any]

    @property
    def result(self) -> SolveResponse | None:
        return SolveResponse.model_validate(self.data) if self.stage == "final" else None


class _SSEParser:
    """Server-sent events from lines (the `event:` and `data:` fields; others ignored)."""

    def __init__(self) -> None:
        self.event = "message"
        self.data: list[str] = []

    def feed(self, line: str) -> StageEvent | None:
        if line:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                self.event = value
            elif field == "data":
                self.data.append(value)
            return None
        if not self.data:
            return None
        event = StageEvent(self.event, json.loads("\n".join(self.data)))
        self.event, self.data = "message", []
        if event.stage == "error":
            d = event.data
            raise error_from(int(d.get("status", 500)), d)
        return event


def _solve_body(question: str, strategy: str, stream: bool, options: dict[str, Any]) -> Any:
    return {"question": question, "strategy": strategy, "options": options, "stream": stream}


def _critique_body(question: str, solution: str, reveal: str) -> Any:
    return {"question": question, "solution": solution, "reveal": reveal}


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


class SyncTransport:
    """The sync HTTP core: one `httpx.Client`, errors mapped to `ServiceError`s."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        http: httpx.Client | None = None,
    ) -> None:
        self._http = http or httpx.Client(
            base_url=base_url, headers=_headers(api_key), timeout=timeout_s
        )
        if http is not None:
            self._http.base_url = httpx.URL(base_url)
            self._http.headers.update(_headers(api_key))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        _raise_for(response)
        return response

    def _send_json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncTransport:
    """The async HTTP core: one `httpx.AsyncClient`, errors mapped to `ServiceError`s."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = http or httpx.AsyncClient(
            base_url=base_url, headers=_headers(api_key), timeout=timeout_s
        )
        if http is not None:
            self._http.base_url = httpx.URL(base_url)
            self._http.headers.update(_headers(api_key))

    async def _asend(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self._http.request(method, path, **kwargs)
        _raise_for(response)
        return response

    async def _asend_json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self._asend(method, path, **kwargs)).json()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def _events(lines: Iterable[str]) -> Iterator[StageEvent]:
    parser = _SSEParser()
    for line in lines:
        event = parser.feed(line)
        if event is not None:
            yield event


class GloreClient(SyncTransport):
    """The sync client: solve (whole or streamed), critique, health."""

    def solve(self, question: str, *, strategy: str = "glore", **options: Any) -> SolveResponse:
        """Options are `SolveOptions` fields: mode, tau_when, tau_where, max_tokens, ..."""
        body = _solve_body(question, strategy, False, options)
        return SolveResponse.model_validate(self._send_json("POST", "/v1/solve", json=body))

    def solve_stream(
        self, question: str, *, strategy: str = "glore", **options: Any
    ) -> Iterator[StageEvent]:
        """Each stage as the server finishes it; an `error` event raises `ServiceError`."""
        body = _solve_body(question, strategy, True, options)
        with self._http.stream("POST", "/v1/solve", json=body) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            yield from _events(response.iter_lines())

    def critique(self, question: str, solution: str, *, reveal: str = "full") -> CritiqueResponse:
        body = _critique_body(question, solution, reveal)
        return CritiqueResponse.model_validate(self._send_json("POST", "/v1/critique", json=body))

    def health(self) -> bool:
        """Whether the process answers /healthz."""
        try:
            return self._http.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def ready(self) -> Readiness:
        """Each readiness check; `status` is `not ready` when one fails (no exception)."""
        response = self._http.get("/readyz")
        if response.status_code == 503:
            return Readiness(status="not ready", checks=response.json().get("checks", []))
        _raise_for(response)
        return Readiness.model_validate(response.json())


class AsyncGloreClient(AsyncTransport):
    """The async client: solve (whole or streamed), critique, health."""

    async def solve(
        self, question: str, *, strategy: str = "glore", **options: Any
    ) -> SolveResponse:
        body = _solve_body(question, strategy, False, options)
        data = await self._asend_json("POST", "/v1/solve", json=body)
        return SolveResponse.model_validate(data)

    async def solve_stream(
        self, question: str, *, strategy: str = "glore", **options: Any
    ) -> AsyncIterator[StageEvent]:
        body = _solve_body(question, strategy, True, options)
        async with self._http.stream("POST", "/v1/solve", json=body) as response:
            if response.status_code >= 400:
                await response.aread()
                _raise_for(response)
            parser = _SSEParser()
            async for line in response.aiter_lines():
                event = parser.feed(line)
                if event is not None:
                    yield event

    async def critique(
        self, question: str, solution: str, *, reveal: str = "full"
    ) -> CritiqueResponse:
        body = _critique_body(question, solution, reveal)
        data = await self._asend_json("POST", "/v1/critique", json=body)
        return CritiqueResponse.model_validate(data)

    async def health(self) -> bool:
        try:
            return (await self._http.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def ready(self) -> Readiness:
        response = await self._http.get("/readyz")
        if response.status_code == 503:
            return Readiness(status="not ready", checks=response.json().get("checks", []))
        _raise_for(response)
        return Readiness.model_validate(response.json())


__all__ = [
    "AsyncGloreClient",
    "AsyncTransport",
    "GloreClient",
    "InvalidRequest",
    "Overloaded",
    "RateLimited",
    "ServiceError",
    "StageEvent",
    "SyncTransport",
    "TimedOut",
    "Unauthorized",
]
