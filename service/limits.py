"""Bounds on work: in-flight requests, requests per key per minute, failed authentications
per client address per minute, request body size."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import ProblemError
from service.metrics import IN_FLIGHT
from service.problems import problem


class InFlight:
    """Admission: at most `limit` pipeline runs at once, and none accepted that would not
    finish within `within_s`; a refused one gets 503 at once, never a queue.

    The wait is estimated from the server's own recent throughput: the last `window`
    completions give a rate, and a new request would finish after the `count` ahead of it
    and itself, `(count + 1) / rate` seconds from now. The rate is counted in busy time
    (while something is in flight), so an idle gap neither dilutes it nor erases it: the
    next burst meets the capacity last measured. Until `MIN_SAMPLES` completions have been
    seen, only the count bounds admission. Retry-After is the estimated time until the
    request would fit.

    `acquire()` and `release()` run on the event loop with no await between the check and
    the count, so no lock is needed."""

    MIN_SAMPLES = 8

    def __init__(
        self,
        limit: int,
        within_s: float = math.inf,
        clock: Callable[[], float] = time.monotonic,
        window: int = 32,
    ) -> None:
        self.limit, self.within_s, self._clock = limit, within_s, clock
        self.count = 0
        self._done: deque[float] = deque(maxlen=window)
        """Busy time (`busy_s`) at each recent completion."""
        self._busy_s = 0.0
        self._busy_since: float | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def busy_s(self) -> float:
        """Seconds so far with at least one request in flight."""
        running = 0.0 if self._busy_since is None else self._clock() - self._busy_since
        return self._busy_s + running

    def rate(self) -> float | None:
        """Completions per busy second over the recent window; None before `MIN_SAMPLES`."""
        if len(self._done) < self.MIN_SAMPLES:
            return None
        span = self.busy_s() - self._done[0]  # up to now: a stalled server's rate falls
        return (len(self._done) - 1) / span if span > 0 else None

    def expected_s(self) -> float | None:
        """When a request admitted now would finish, by the recent rate (None: unknown)."""
        rate = self.rate()
        return None if rate is None else (self.count + 1) / rate

    def acquire(self) -> None:
        expected = self.expected_s()
        if self.count >= self.limit:
            wait = 1 if expected is None else max(1, math.ceil(expected / (self.count + 1)))
            raise self._shed(
                f"the server is running its limit of {self.limit} requests; retry shortly",
                wait,
            )
        if expected is not None and expected > self.within_s:
            raise self._shed(
                f"a request accepted now would take about {expected:.1f} s, more than the "
                f"{self.within_s:g} s allowed (GLORE_ADMIT_WITHIN_S, at most the request "
                "timeout); retry later",
                max(1, math.ceil(expected - self.within_s)),
            )
        if self.count == 0:
            self._busy_since = self._clock()
        self.count += 1
        self._idle.clear()
        IN_FLIGHT.inc()

    @staticmethod
    def _shed(detail: str, retry_after: int) -> ProblemError:
        return ProblemError(503, "Overloaded", detail, headers={"Retry-After": str(retry_after)})

    def release(self) -> None:
        self._done.append(self.busy_s())
        self.count -= 1
        IN_FLIGHT.dec()
        if self.count == 0:
            self._busy_s, self._busy_since = self.busy_s(), None
            self._idle.set()

    async def drain(self, timeout_s: float) -> bool:
        """Wait until nothing is in flight (or `timeout_s`); True when drained."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True


class RateLimiter:
    """A token bucket per client: `per_minute` tokens, refilled continuously."""

    MAX_CLIENTS = 10_000
    """Buckets kept; beyond it, full (idle) buckets are dropped."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def _tokens(self, client: str, now: float) -> float:
        tokens, last = self._buckets.get(client, (self.capacity, now))
        return min(self.capacity, tokens + (now - last) * self.rate)

    def due(self, client: str) -> float:
        """The seconds until `client` has a token (0: now), spending none."""
        tokens = self._tokens(client, self.clock())
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def take(self, client: str) -> float:
        """Spend one token of `client`'s; 0 when allowed, else the seconds until one is due."""
        now = self.clock()
        tokens = self._tokens(client, now)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self._buckets) >= self.MAX_CLIENTS and client not in self._buckets:
            self._forget_idle(now)
        self._buckets[client] = (tokens - 1.0, now)
        return 0.0

    def check(self, client: str) -> None:
        wait = self.take(client)
        if wait > 0:
            per = int(self.capacity)
            raise ProblemError(
                429,
                "Too many requests",
                f"at most {per} requests per minute per key; retry in {math.ceil(wait)} s",
                headers={"Retry-After": str(math.ceil(wait))},
            )

    def _forget_idle(self, now: float) -> None:
        full = [
            k for k, (t, last) in self._buckets.items()
            if t + (now - last) * self.rate >= self.capacity
        ]  # fmt: skip
        for k in full:
            del self._buckets[k]


class BodyLimitMiddleware:
    """Refuse a request body over `max_bytes` with 413, whether it declares its length or
    streams in chunks (then it is read, at most `max_bytes` + 1 bytes, and replayed), and
    one that does not arrive whole within `timeout_s` with 408."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                first = await self._read(receive)
        except TimeoutError:
            response = problem(
                408,
                "Request Timeout",
                f"the request body did not arrive within {self.timeout_s:g} s",
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        if first is None:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, _replay([first], receive), send)

    async def _read(self, receive: Receive) -> Message | None:
        """The whole body as one message (or the disconnect); None when it is too large."""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return message
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                return None
            chunks.append(body)
            more = bool(message.get("more_body", False))
        return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413,
            "Request body too large",
            f"the request body is over the limit of {self.max_bytes} bytes",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
