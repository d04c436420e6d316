"""A job's items in the worker: which go next (batches of fresh items, a failed batch split
in two, a failed item retried after a backoff) and the result line each one gets."""

from __future__ import annotations

import heapq
import json
import random
from collections import deque
from typing import Any

from glore.engine.result import SolveResult
from glore.errors import GloreError
from service.settings import Settings

MAX_BACKOFF_S = 300.0


def backoff_s(base_s: float, failures: int, rng: random.Random) -> float:
    """base * 2^(failures-1), at most 300 s, jittered down to half so retries spread out."""
    if base_s <= 0:
        return 0.0
    delay: float = min(MAX_BACKOFF_S, base_s * 2.0 ** (failures - 1))
    return delay * rng.uniform(0.5, 1.0)


def item_error(exc: BaseException) -> dict[str, Any]:
    message = exc.message if isinstance(exc, GloreError) else str(exc)
    retryable = exc.retryable if isinstance(exc, GloreError) else True
    return {"type": type(exc).__name__, "message": message[:2000], "retryable": retryable}


class Plan:
    """Which items go next: batches of fresh items first, then the retries whose backoff is
    over; a failed batch is split to find the item that raised."""

    def __init__(self, pending: list[int], settings: Settings) -> None:
        self.size = settings.job_batch_size
        self.retries = settings.job_item_retries
        self.backoff_s = settings.job_retry_backoff_s
        self.ready: deque[list[int]] = deque(
            pending[start : start + self.size] for start in range(0, len(pending), self.size)
        )
        self.delayed: list[tuple[float, int]] = []  # (due on the loop's clock, item index)
        self.failures: dict[int, int] = {}

    def left(self) -> int:
        return sum(len(g) for g in self.ready) + len(self.delayed)

    def wait_s(self, now: float) -> float:
        if self.ready or not self.delayed:
            return 0.0
        return max(0.0, self.delayed[0][0] - now)

    def take(self, now: float) -> list[int]:
        if self.ready:
            return self.ready.popleft()
        due: list[int] = []
        while self.delayed and self.delayed[0][0] <= now and len(due) < self.size:
            due.append(heapq.heappop(self.delayed)[1])
        return due

    def put_back(self, group: list[int]) -> None:
        self.ready.appendleft(group)

    def tries(self, index: int) -> int:
        return self.failures.get(index, 0)

    def failed(
        self, group: list[int], exc: Exception, now: float, rng: random.Random
    ) -> int | None:
        """Take note that `group` raised; -> the item to record failed, if it is out of tries.
        A group of several goes again at once in two halves; a single item is retried after
        a backoff unless it is out of retries or the error is a non-retryable GloreError."""
        if len(group) > 1:
            half = len(group) // 2
            self.ready.appendleft(group[half:])
            self.ready.appendleft(group[:half])
            return None
        (index,) = group
        n = self.failures[index] = self.tries(index) + 1
        if (isinstance(exc, GloreError) and not exc.retryable) or n > self.retries:
            return index
        heapq.heappush(self.delayed, (now + backoff_s(self.backoff_s, n, rng), index))
        return None


def result_line(
    index: int,
    item_id: str,
    attempts: int,
    *,
    result: SolveResult | None = None,
    error: BaseException | None = None,
) -> str:
    """An item's result line (`service.jobs.protocol.ResultLine`), as JSON."""
    return json.dumps(
        {
            "index": index,
            "id": item_id,
            "status": "ok" if error is None else "failed",
            "attempts": attempts,
            "result": None if result is None else result.to_json(),
            "error": None if error is None else item_error(error),
        }
    )
