"""An asyncio micro-batcher: concurrent calls merged into one model batch.

Calls that share a batching key (for generation: the sampling parameters) wait up to
`max_wait_s` for company, then run together, at most `max_batch` items at a time, off the
event loop (by default on the process's compute lane, `glore.backends.embedded.lane`).
A batch handed to the lane keeps taking calls until the lane starts it: while the lane is
busy with other models' work, concurrent callers end up in one pass instead of one small
pass each (64 concurrent solves had made 250 scorer passes). Each caller gets back exactly
its own results. If a merged batch fails, its calls are run one by one, so one bad request
does not fail the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

Item = TypeVar("Item")
Out = TypeVar("Out")
T = TypeVar("T")


class Offload(Protocol):
    """Runs a batch off the event loop and awaits it (the lane's `acall`)."""

    def __call__(self, fn: Callable[[], T], /) -> Awaitable[T]: ...


@dataclass
class _Call(Generic[Item, Out]):
    items: Sequence[Item]
    future: asyncio.Future[list[Out]]


@dataclass
class _Queue(Generic[Item, Out]):
    loop: asyncio.AbstractEventLoop
    calls: list[_Call[Item, Out]] = field(default_factory=list)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    taken: bool = False
    """Set where the batch starts (off the loop): later calls start another queue."""


class MicroBatcher(Generic[Item, Out]):
    """Merge concurrent `submit(key, items)` calls into `run(key, items)` batches."""

    def __init__(
        self,
        run: Callable[[Hashable, list[Item]], list[Out]],
        *,
        max_batch: int = 64,
        max_wait_s: float = 0.01,
        offload: Offload | None = None,
    ) -> None:
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_s >= 0")
        self.run = run
        if offload is None:
            from glore.backends.embedded.lane import LANE

            offload = LANE.acall
        self.offload = offload
        """Runs a batch off the event loop and awaits it."""
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._queues: dict[Hashable, _Queue[Item, Out]] = {}
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._mutex = threading.Lock()  # the queues are taken where the batch runs
        self.batches = 0
        """How many model batches ran (for tests and benchmarks)."""

    async def submit(self, key: Hashable, items: Sequence[Item]) -> list[Out]:
        loop = asyncio.get_running_loop()
        call: _Call[Item, Out] = _Call(items, loop.create_future())
        with self._mutex:
            queue = self._queues.get(key)
            # A queue left by a loop that ended, or one whose batch has started, takes no more.
            fresh = queue is None or queue.loop is not loop or queue.taken
            if fresh:
                queue = self._queues[key] = _Queue(loop)
            assert queue is not None
            queue.calls.append(call)
            full = sum(len(c.items) for c in queue.calls) >= self.max_batch
        if fresh:
            task = loop.create_task(self._drain(key, queue))
            self._tasks.add(task)  # a task only weakly referenced may be collected mid-run
            task.add_done_callback(self._tasks.discard)
        elif full:
            queue.wakeup.set()
        return await call.future

    async def _drain(self, key: Hashable, queue: _Queue[Item, Out]) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(queue.wakeup.wait(), self.max_wait_s)
            async with self._loop_lock():  # one model batch at a time
                ran = await self.offload(lambda: self._run_queue(key, queue))
            for group, outcome in ran:
                if isinstance(outcome, Exception) and len(group) > 1:
                    for call in group:  # isolate the failing call
                        await self._run_one(key, call)
                else:
                    _settle_group(group, outcome)
        except asyncio.CancelledError:  # the loop is closing: so are its callers' calls
            for call in queue.calls:
                call.future.cancel()
            raise
        except Exception as exc:  # whatever stops the drain, no caller waits forever
            for call in queue.calls:
                _settle(call, exc)

    def _loop_lock(self) -> asyncio.Lock:
        """The running loop's lock: an asyncio lock serves only the loop it first waited
        in, and one batcher may outlive several loops (`asyncio.run` after another)."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _run_queue(
        self, key: Hashable, queue: _Queue[Item, Out]
    ) -> list[tuple[list[_Call[Item, Out]], list[Out] | Exception]]:
        """Off the loop, as the batch starts: the queue's calls so far, in groups of at
        most `max_batch` items, each group's outputs or error."""
        with self._mutex:
            queue.taken = True
            if self._queues.get(key) is queue:
                del self._queues[key]
            calls = list(queue.calls)
        ran: list[tuple[list[_Call[Item, Out]], list[Out] | Exception]] = []
        for group in self._groups(calls):
            self.batches += 1
            try:
                ran.append((group, self.run(key, [item for c in group for item in c.items])))
            except Exception as exc:
                ran.append((group, exc))
        return ran

    def _groups(self, calls: list[_Call[Item, Out]]) -> list[list[_Call[Item, Out]]]:
        groups: list[list[_Call[Item, Out]]] = [[]]
        size = 0
        for call in calls:
            if groups[-1] and size + len(call.items) > self.max_batch:
                groups.append([])
                size = 0
            groups[-1].append(call)
            size += len(call.items)
        return groups

    async def _run_one(self, key: Hashable, call: _Call[Item, Out]) -> None:
        """One call of a failed batch, alone: its own outputs or its own error."""
        self.batches += 1
        try:
            outs = await self.offload(lambda: self.run(key, list(call.items)))
        except Exception as exc:
            _settle(call, exc)
            return
        _settle(call, outs)


def _settle_group(group: list[_Call[Item, Out]], outs: list[Out] | BaseException) -> None:
    """Each call of a batch its own slice of the outputs, or the batch's error."""
    if isinstance(outs, BaseException):
        for call in group:
            _settle(call, outs)
        return
    start = 0
    for call in group:
        _settle(call, outs[start : start + len(call.items)])
        start += len(call.items)


def _settle(call: _Call[Item, Out], result: list[Out] | BaseException) -> None:
    if call.future.done():  # the caller was cancelled
        return
    if isinstance(result, BaseException):
        call.future.set_exception(result)
    else:
        call.future.set_result(result)
