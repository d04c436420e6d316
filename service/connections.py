"""Bounds on connections, below the app: how long a client may take to send its headers,
and how many connections one process holds (GLORE_HEADER_TIMEOUT_S,
GLORE_MAX_CONNECTIONS). The body's deadline is the app's (`service.limits`).

uvicorn has neither, so `GuardedH11Protocol` adds them to its h11 protocol: a connection
that has not sent a whole request head within the timeout (after connecting, or after its
previous response) is answered 408 and closed; one over the cap is answered 503 and closed
at once. Both answers, and h11's own 400 for a malformed head, are problem+json.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from service.problems import PROBLEM_JSON, problem_body
from service.settings import Settings


def _raw_problem(status: int, title: str, detail: str, headers: dict[str, str]) -> bytes:
    """A whole HTTP/1.1 problem+json response that closes the connection."""
    body = json.dumps(problem_body(status, title, detail)).encode()
    lines = [f"HTTP/1.1 {status} {title}", f"content-type: {PROBLEM_JSON}", "connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head timeout and a connection cap."""

    def __init__(
        self, *args: Any, header_timeout_s: float, max_connections: int, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self.max_connections = max_connections
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            detail = f"the server holds its limit of {self.max_connections} connections"
            self._refuse(503, "Too many connections", detail, {"Retry-After": "1"})
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the next request's head begins
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the head is in

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        detail = f"{msg} The request head must be valid HTTP/1.1 (RFC 9112)"
        self._refuse(400, "Bad Request", detail, {})

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None  # armed only while a head is awaited: it did not come
        detail = f"the request head did not arrive within {self.header_timeout_s:g} s"
        self._refuse(408, "Request Timeout", detail, {})

    def _refuse(self, status: int, title: str, detail: str, headers: dict[str, str]) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(_raw_problem(status, title, detail, headers))
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What uvicorn.run / uvicorn.Config take from the settings (picklable, for workers)."""
    protocol = functools.partial(
        GuardedH11Protocol,
        header_timeout_s=settings.header_timeout_s,
        max_connections=settings.max_connections,
    )
    return {
        "http": protocol,
        "timeout_keep_alive": settings.keep_alive_s,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
    }


__all__ = ["GuardedH11Protocol", "uvicorn_options"]
