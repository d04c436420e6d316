"""Client methods of the job routes, as mixins over `service.client`'s transports.

    class GloreClient(JobsMixin, SyncTransport): ...

    with JobsClient("http://127.0.0.1:8000", api_key="...") as client:
        job_id = client.submit_job(["Mia has 3 apples...", ...], idempotency_key="run-7")
        status = client.wait(job_id, on_progress=lambda s: print(s.progress.done))
        for line in client.iter_results(job_id):
            print(line.id, line.status, line.result and line.result["answer"])

Errors are `service.client.ServiceError`s (404: unknown or expired job; 409: an idempotency
key reused with other items; 503: Redis not configured or unreachable, `retryable`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from service.client import AsyncTransport, SyncTransport, _raise_for
from service.jobs.protocol import (
    NDJSON,
    TERMINAL,
    JobAccepted,
    JobStatus,
    ResultLine,
    ResultsPage,
)


def _job_body(
    items: Iterable[str | Mapping[str, Any]],
    strategy: str,
    options: Mapping[str, Any] | None,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """Items are questions, or `{"id", "question"}` objects."""
    body: dict[str, Any] = {
        "items": [{"question": i} if isinstance(i, str) else dict(i) for i in items],
        "strategy": strategy,
        "options": dict(options or {}),
    }
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key
    return body


def _path(job_id: str, tail: str = "") -> str:
    return f"/v1/jobs/{quote(job_id, safe='')}{tail}"


class _Watch:
    """What `wait` does with each polled status, for the sync and the async client alike:
    tell `on_progress` when the state or done count moved; say when the job has ended;
    raise `TimeoutError` once `timeout_s` has passed."""

    def __init__(
        self,
        job_id: str,
        on_progress: Callable[[JobStatus], None] | None,
        timeout_s: float | None,
    ) -> None:
        self.job_id, self.on_progress, self.timeout_s = job_id, on_progress, timeout_s
        self.deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self.last: tuple[str, int] | None = None

    def ended(self, status: JobStatus) -> bool:
        now = (status.state, status.progress.done)
        if now != self.last:
            self.last = now
            if self.on_progress is not None:
                self.on_progress(status)
        if status.state in TERMINAL:
            return True
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise TimeoutError(
                f"job {self.job_id} is still {status.state} after {self.timeout_s} s"
            )
        return False


class JobsMixin:
    """The job routes for a sync transport (`_send`, `_send_json`, `_http`)."""

    if TYPE_CHECKING:
        _http: httpx.Client

        def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...
        def _send_json(self, method: str, path: str, **kwargs: Any) -> Any: ...

    def submit_job(
        self,
        items: Iterable[str | Mapping[str, Any]],
        options: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        *,
        strategy: str = "glore",
    ) -> str:
        """Queue the items; -> the job id (the first job's, for a repeated idempotency key)."""
        return self.submit_job_status(items, options, idempotency_key, strategy=strategy).job_id

    def submit_job_status(
        self,
        items: Iterable[str | Mapping[str, Any]],
        options: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        *,
        strategy: str = "glore",
    ) -> JobAccepted:
        body = _job_body(items, strategy, options, idempotency_key)
        return JobAccepted.model_validate(self._send_json("POST", "/v1/jobs", json=body))

    def job(self, job_id: str) -> JobStatus:
        return JobStatus.model_validate(self._send_json("GET", _path(job_id)))

    def wait(
        self,
        job_id: str,
        poll_s: float = 1.0,
        on_progress: Callable[[JobStatus], None] | None = None,
        *,
        timeout_s: float | None = None,
    ) -> JobStatus:
        """Poll until the job is done, failed or cancelled; `on_progress` hears every change
        of state or done count. Raises `TimeoutError` after `timeout_s` (None: no limit)."""
        watch = _Watch(job_id, on_progress, timeout_s)
        while not watch.ended(status := self.job(job_id)):
            time.sleep(poll_s)
        return status

    def results(self, job_id: str, offset: int = 0, limit: int = 100) -> ResultsPage:
        """One page of result lines: items [offset, offset+limit) that have one."""
        params = {"offset": offset, "limit": limit, "format": "json"}
        return ResultsPage.model_validate(
            self._send_json("GET", _path(job_id, "/results"), params=params)
        )

    def iter_results(self, job_id: str, offset: int = 0) -> Iterator[ResultLine]:
        """Every result line from `offset` on, streamed as NDJSON, by item index."""
        params: dict[str, str | int] = {"offset": offset, "format": "ndjson"}
        with self._http.stream(
            "GET", _path(job_id, "/results"), params=params, headers={"Accept": NDJSON}
        ) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            for line in response.iter_lines():
                if line.strip():
                    yield ResultLine.model_validate(json.loads(line))

    def cancel(self, job_id: str) -> JobStatus:
        """Stop the job's remaining items; -> its status (cancel may still be under way)."""
        return JobStatus.model_validate(self._send_json("DELETE", _path(job_id)))


class AsyncJobsMixin:
    """The job routes for an async transport (`_asend`, `_asend_json`, `_http`)."""

    if TYPE_CHECKING:
        _http: httpx.AsyncClient

        async def _asend(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...
        async def _asend_json(self, method: str, path: str, **kwargs: Any) -> Any: ...

    async def submit_job(
        self,
        items: Iterable[str | Mapping[str, Any]],
        options: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        *,
        strategy: str = "glore",
    ) -> str:
        status = await self.submit_job_status(items, options, idempotency_key, strategy=strategy)
        return status.job_id

    async def submit_job_status(
        self,
        items: Iterable[str | Mapping[str, Any]],
        options: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        *,
        strategy: str = "glore",
    ) -> JobAccepted:
        body = _job_body(items, strategy, options, idempotency_key)
        return JobAccepted.model_validate(await self._asend_json("POST", "/v1/jobs", json=body))

    async def job(self, job_id: str) -> JobStatus:
        return JobStatus.model_validate(await self._asend_json("GET", _path(job_id)))

    async def wait(
        self,
        job_id: str,
        poll_s: float = 1.0,
        on_progress: Callable[[JobStatus], None] | None = None,
        *,
        timeout_s: float | None = None,
    ) -> JobStatus:
        watch = _Watch(job_id, on_progress, timeout_s)
        while not watch.ended(status := await self.job(job_id)):
            await asyncio.sleep(poll_s)
        return status

    async def results(self, job_id: str, offset: int = 0, limit: int = 100) -> ResultsPage:
        params = {"offset": offset, "limit": limit, "format": "json"}
        data = await self._asend_json("GET", _path(job_id, "/results"), params=params)
        return ResultsPage.model_validate(data)

    async def iter_results(self, job_id: str, offset: int = 0) -> AsyncIterator[ResultLine]:
        params: dict[str, str | int] = {"offset": offset, "format": "ndjson"}
        async with self._http.stream(
            "GET", _path(job_id, "/results"), params=params, headers={"Accept": NDJSON}
        ) as response:
            if response.status_code >= 400:
                await response.aread()
                _raise_for(response)
            async for line in response.aiter_lines():
                if line.strip():
                    yield ResultLine.model_validate(json.loads(line))

    async def cancel(self, job_id: str) -> JobStatus:
        return JobStatus.model_validate(await self._asend_json("DELETE", _path(job_id)))


class JobsClient(JobsMixin, SyncTransport):
    """A sync client of the job routes alone."""


class AsyncJobsClient(AsyncJobsMixin, AsyncTransport):
    """An async client of the job routes alone."""


__all__ = ["AsyncJobsClient", "AsyncJobsMixin", "JobsClient", "JobsMixin"]
