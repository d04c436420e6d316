"""One compute thread per process: every embedded model loads and runs on it.

Why one: PyTorch's CPU kernels split an op over an OpenMP team, and every thread that
issues ops gets a team of its own. Once a process holds more team threads than cores (the
thread that loaded the models, a decode thread per model, scorer batches on a thread pool),
libgomp stops spinning between parallel regions and every op pays a sleep and a wake. On
the project's 2-core machine the default student decoded 1.2-1.6x as many tokens/s on one
thread as with a second thread decoding beside the one that loaded it
(`docs/results/probes/lane_threads.py` measures it; the README's Benchmarks give its
runs). So the lane loads the models and runs all their work, in turn: one-off jobs (a
model load, a scorer's batch) in arrival order, and between them one iteration of each
active driver (a generator's scheduler: a prefill pass and a decode step).

Callers anywhere (an event loop, a training stage's chunk threads) hand work over with
`call` (blocking), `submit` (a future) or `acall` (awaitable). Work already on the lane
runs inline; work on the lane must never wait for other lane work (a scheduler's result,
say), which could only run after it: `wait_off_lane` refuses that with a clear error.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

from glore.errors import BackendError

T = TypeVar("T")
P = ParamSpec("P")
log = logging.getLogger(__name__)


class Driver(Protocol):
    """Work the lane steps until it runs out (a generator's scheduler)."""

    def step(self) -> bool:
        """One short unit of work; False when there was none left."""

    def has_work(self) -> bool:
        """Whether anything is queued or running (asked under the lane's lock)."""

    def abort(self, error: BaseException) -> None:
        """Fail every request it holds (its `step` raised)."""


@dataclass(frozen=True)
class LaneTime:
    """Seconds the lane has spent, since it was made, running jobs (model loads, scorer
    batches, fits) and stepping drivers (generators' prefill and decode): the split of its
    busy time between scoring and generation that a wall clock cannot give when both
    interleave. Subtract two readings to time a stretch of work."""

    jobs_s: float = 0.0
    steps_s: float = 0.0

    def __sub__(self, other: LaneTime) -> LaneTime:
        return LaneTime(self.jobs_s - other.jobs_s, self.steps_s - other.steps_s)


class Lane:
    """A daemon thread that runs jobs and steps drivers; it starts at the first piece of
    work and then waits, idle, for the next (its OpenMP team stays with it)."""

    def __init__(self, name: str = "glore-lane") -> None:
        self.name = name
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._jobs: deque[tuple[Callable[[], Any], Future[Any]]] = deque()
        self._drivers: list[Driver] = []
        self._thread: threading.Thread | None = None
        self._jobs_s = self._steps_s = 0.0  # written by the lane's thread alone

    def time(self) -> LaneTime:
        """The lane's busy seconds so far, by kind (`LaneTime`). Read as a job of its own,
        so every piece of work handed over before the call is counted whole."""
        return self.call(lambda: LaneTime(self._jobs_s, self._steps_s))

    def on_lane(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Run `fn()` on the lane; its result (or error) comes back in the future."""
        future: Future[T] = Future()
        with self._cond:
            self._jobs.append((fn, future))
            self._wake()
        return future

    def call(self, fn: Callable[[], T]) -> T:
        """`fn()` on the lane, waited for; inline when already on it."""
        if self.on_lane():
            return fn()
        return self.submit(fn).result()

    async def acall(self, fn: Callable[[], T]) -> T:
        """`fn()` on the lane, awaited; cancelling the await drops a job not yet started."""
        if self.on_lane():
            return fn()
        future = self.submit(fn)
        try:
            return await asyncio.wrap_future(future)
        finally:
            future.cancel()

    def activate(self, driver: Driver) -> None:
        """Step `driver` from now until it has no work left."""
        with self._cond:
            if not any(d is driver for d in self._drivers):
                self._drivers.append(driver)
            self._wake()

    def wait_off_lane(self, what: str) -> None:
        """Refuse to block the lane on work only the lane can do."""
        if self.on_lane():
            raise BackendError(
                f"{what} waits for the compute lane from the lane itself, which would never "
                "end; call it from another thread (or await its async form)",
                retryable=False,
            )

    def _wake(self) -> None:  # under self._cond
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()
        self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._drivers:
                    self._cond.wait()
                job = self._jobs.popleft() if self._jobs else None
                drivers = list(self._drivers)
            started = time.perf_counter()
            if job is not None:
                _run(*job)
            stepped = time.perf_counter()
            self._jobs_s += stepped - started
            for driver in drivers:
                self._step(driver)
            self._steps_s += time.perf_counter() - stepped

    def _step(self, driver: Driver) -> None:
        try:
            busy = driver.step()
        except Exception as exc:  # a broken driver fails its own requests, not the lane
            log.exception("a driver on the compute lane failed")
            driver.abort(exc)
            busy = False
        if busy:
            return
        with self._cond:  # work submitted since its last step keeps it on
            if not driver.has_work():
                self._drivers = [d for d in self._drivers if d is not driver]


def on_lane(fn: Callable[P, T]) -> Callable[P, T]:
    """`fn`, run on the process's lane whoever calls it: for heavy work outside the models'
    own calls (a training run, a fit), which would otherwise give its caller's thread an
    OpenMP team of its own and slow the lane for the rest of the process."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return LANE.call(lambda: fn(*args, **kwargs))

    return wrapper


def _run(fn: Callable[[], Any], future: Future[Any]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(fn())
    except BaseException as exc:  # the caller gets it; the lane goes on
        future.set_exception(exc)


LANE = Lane()
"""The process's lane (a spawned process has its own; a forked child starts a fresh one,
since the parent's thread does not exist there)."""

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=LANE._reset)
