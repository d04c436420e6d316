"""The HTTP client, retry policy and error mapping both remote backends share (the policy
is in `glore.backends.remote`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import httpx

from glore.backends.remote.vllm_contract import error_detail
from glore.errors import BackendError, InvalidInputError, ModelNotFoundError

_MAX_BACKOFF_S = 8.0
CONNECT_TIMEOUT_S = 5.0
"""The default connect timeout; a backend uses min(connect_timeout_s, timeout_s)."""

_T = TypeVar("_T")

log = logging.getLogger("glore.backends.remote")

_ONE_PROMPT_SERVERS: set[str] = set()
"""Base URLs found to take one prompt per request (`OnePromptPerRequestError`), for the life of
the process: every backend on such a server then sends one prompt per request."""


class OnePromptPerRequestError(Exception):
    """A multi-prompt request got HTTP 500 with an empty message: the signature of a server
    that takes one prompt per request (llama-cpp-python's `assert len(body.prompt) <= 1`).
    Never escapes a backend: the caller splits the batch and asks again."""


def one_prompt_only(base_url: str) -> bool:
    return base_url in _ONE_PROMPT_SERVERS


def _note_one_prompt(base_url: str, url: str, count: int) -> None:
    if base_url in _ONE_PROMPT_SERVERS:
        return
    _ONE_PROMPT_SERVERS.add(base_url)
    log.warning(
        "%s answered HTTP 500 with an empty message to a request of %d prompts: taking %s "
        "to be a server that takes one prompt per request (as llama.cpp's Python server "
        "does); every request to it now carries one prompt (set max_prompts_per_request: 1 "
        "in the spec to say so up front)",
        url,
        count,
        base_url,
    )


Activation = Literal["sigmoid", "none"]


class RemoteBackend:
    """The HTTP client, retry policy and error mapping both remote backends share."""

    _hint = ""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        deadline_s: float,
        max_retries: int,
        backoff_s: float,
        max_connections: int,
        client: httpx.AsyncClient | None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise InvalidInputError(f"base_url must start with http:// or https://: {base_url}")
        if not model:
            raise InvalidInputError("model must name the served model or LoRA adapter")
        for name, value in (
            ("timeout_s", timeout_s),
            ("connect_timeout_s", connect_timeout_s),
            ("deadline_s", deadline_s),
        ):
            if not value > 0:
                raise InvalidInputError(f"{name} must be positive, got {value}")
        if max_retries < 0:
            raise InvalidInputError(f"max_retries must be at least 0, got {max_retries}")
        if backoff_s < 0:
            raise InvalidInputError(f"backoff_s must be at least 0, got {backoff_s}")
        if max_connections < 1:
            raise InvalidInputError(f"max_connections must be at least 1, got {max_connections}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_s = timeout_s
        self.connect_timeout_s = min(connect_timeout_s, timeout_s)
        self.deadline_s = deadline_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_connections = max_connections
        self._owns_client = client is None
        self._client = client
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots = asyncio.Semaphore(max_connections)
        self._closed = False

    def _bind(self) -> httpx.AsyncClient:
        """The client for the running event loop. Pooled connections belong to one loop, so
        an owned client is rebuilt when the backend is used from a new loop (successive
        `asyncio.run` calls); the old loop's client is dropped, its loop being gone."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._owns_client:
                self._client = httpx.AsyncClient(
                    timeout=self._timeout(),
                    limits=httpx.Limits(
                        max_connections=self.max_connections,
                        max_keepalive_connections=self.max_connections,
                    ),
                )
            self._slots = asyncio.Semaphore(self.max_connections)
            self._loop = loop
        assert self._client is not None
        return self._client

    def _timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s)

    async def _within_deadline(self, work: Awaitable[_T]) -> _T:
        """`work` (one public call: its requests, retries, backoff and top-ups), cancelled
        after `deadline_s`. Cancelling closes the connections of its unfinished requests,
        which is how a server learns that nobody waits for them (vLLM then aborts them)."""
        try:
            async with asyncio.timeout(self.deadline_s):
                return await work
        except TimeoutError:
            raise BackendError(
                f"{self.base_url} gave no result within the call's deadline of "
                f"{self.deadline_s:g} s (deadline_s); its unfinished requests were abandoned",
                retryable=True,
            ) from None

    async def close(self) -> None:
        """Close the HTTP client (unless the caller passed it in). Idempotent."""
        if self._closed:
            return
        self._closed = True
        client, self._client = self._client, None
        if self._owns_client and client is not None:
            if self._loop is asyncio.get_running_loop():
                await client.aclose()
            self._loop = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _post(self, path: str, body: dict[str, Any], *, batch: int = 1) -> Any:
        """POST `body` as JSON and return the decoded answer, under the retry policy.
        `batch` is the number of prompts in the body: a 500 with an empty message to a
        request of more than one raises `OnePromptPerRequestError` at once (no retry)."""
        if self._closed:
            raise BackendError(f"the backend for {self.base_url} is closed", retryable=False)
        client = self._bind()
        url = self.base_url + path
        failure = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(min(self.backoff_s * 2 ** (attempt - 1), _MAX_BACKOFF_S))
            try:
                async with self._slots:
                    response = await client.post(url, json=body, timeout=self._timeout())
            except httpx.ConnectTimeout:
                failure = f"could not connect within {self.connect_timeout_s:g} s"
                continue
            except httpx.TimeoutException as e:
                failure = f"no answer within {self.timeout_s:g} s ({type(e).__name__})"
                continue
            except httpx.TransportError as e:
                failure = f"connection failed ({type(e).__name__}: {e})"
                continue
            status = response.status_code
            if status == 500 and batch > 1 and not self._message(response).strip():
                _note_one_prompt(self.base_url, url, batch)
                raise OnePromptPerRequestError(url)
            if status >= 500 or status == 429:
                failure = f"HTTP {status}: {self._message(response)}"
                continue
            if status >= 400:
                raise self._client_error(response, url)
            try:
                return response.json()
            except ValueError:
                raise BackendError(
                    f"{url} answered HTTP {status} with a body that is not JSON", retryable=False
                ) from None
        attempts = self.max_retries + 1
        raise BackendError(
            f"POST {url} failed {attempts} time{'s' if attempts > 1 else ''}; last: {failure}",
            retryable=True,
        )

    @staticmethod
    def _message(response: httpx.Response) -> str:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return error_detail(body)[0]

    def _client_error(self, response: httpx.Response, url: str) -> Exception:
        status = response.status_code
        message = self._message(response)
        try:
            kind = error_detail(response.json())[1]
        except ValueError:
            kind = None
        if status == 404 and (kind == "NotFoundError" or "model" in message.lower()):
            return ModelNotFoundError(
                f"model {self.model!r} is not served at {self.base_url} ({message}); a LoRA "
                "adapter must be named in the server's --lora-modules"
            )
        if status == 404:
            return BackendError(
                f"{url} does not exist (HTTP 404: {message}); {self._hint}", retryable=False
            )
        return BackendError(
            f"{url} rejected the request (HTTP {status}): {message}", retryable=False
        )


async def gather_all(aws: list[Coroutine[Any, Any, _T]]) -> list[_T]:
    """Await all concurrently; on the first failure cancel the rest, then raise it."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def chunks(items: list[int], size: int) -> list[list[int]]:
    if size >= len(items):
        return [items] if items else []
    return [items[i : i + size] for i in range(0, len(items), size)]


def check_per_request(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be an integer of at least 1, got {value!r}")
    return value
