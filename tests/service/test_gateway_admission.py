"""Admission bounds the wait, not only the count: under overload a request is accepted only
if, at the server's measured throughput, it would finish within GLORE_ADMIT_WITHIN_S; the
rest get 503 at once with a Retry-After from that estimate. Over real HTTP, on a scripted
engine whose student serves one call at a time (a server of fixed capacity)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence

import httpx
import pytest

from glore.backends.base import Completion, SamplingParams
from service.errors import ProblemError
from service.limits import InFlight
from service.settings import Settings
from tests.service.gateway_live import DRAFT, QUESTION, LiveServer, scripted_engine


class SerialGenerator:
    """`delay` seconds per call, one call at a time: capacity 1/delay calls a second."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._lock: asyncio.Lock | None = None

    async def generate(
        self, prompts: Sequence[str], params: SamplingParams
    ) -> list[list[Completion]]:
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            await asyncio.sleep(self.delay)
        return [[Completion(DRAFT, 5, "stop") for _ in range(params.n)] for _ in prompts]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def gates() -> Iterator[list[InFlight]]:
    """Gates made by a test, emptied after it: each keeps the process's in-flight gauge."""
    made: list[InFlight] = []
    yield made
    for gate in made:
        while gate.count:
            gate.release()


def test_the_gate_sheds_what_could_not_finish_in_time(gates: list[InFlight]) -> None:
    clock = Clock()
    gate = InFlight(limit=100, within_s=2.0, clock=clock)
    gates.append(gate)
    gate.acquire()  # a long request held throughout: the gate never falls idle
    for _ in range(InFlight.MIN_SAMPLES + 1):  # then one at a time, each taking 0.5 s
        gate.acquire()
        clock.now += 0.5
        gate.release()
    assert gate.rate() == pytest.approx(2.0)  # completions a second
    admitted = 0
    with pytest.raises(ProblemError) as refused:
        while True:
            gate.acquire()
            admitted += 1
    assert gate.count == 4 and admitted == 3  # (3 + 1) / 2 = 2 s: the last that fits
    assert refused.value.status == 503 and "would take about" in refused.value.detail
    assert int(refused.value.headers["Retry-After"]) >= 1


def test_an_idle_gap_neither_dilutes_nor_erases_the_rate(gates: list[InFlight]) -> None:
    clock = Clock()
    gate = InFlight(limit=100, within_s=2.0, clock=clock)
    gates.append(gate)
    for _ in range(InFlight.MIN_SAMPLES + 1):
        gate.acquire()
        clock.now += 0.5  # 0.5 s of work each, one at a time: 2 a second of busy time
        gate.release()
        clock.now += 100.0  # then idle
    assert gate.rate() == pytest.approx(2.0)
    admitted = 0
    with pytest.raises(ProblemError):
        while True:
            gate.acquire()
            admitted += 1
    assert admitted == 4  # (3 + 1) / 2 = 2 s: a burst after the gap meets the last capacity


def test_before_any_completion_only_the_count_bounds_admission(gates: list[InFlight]) -> None:
    gate = InFlight(limit=20, within_s=0.1, clock=Clock())
    gates.append(gate)
    for _ in range(20):
        gate.acquire()
    with pytest.raises(ProblemError, match="its limit of 20 requests"):
        gate.acquire()


def test_the_admission_bound_is_capped_at_the_request_timeout() -> None:
    short = Settings(_env_file=None, admit_within_s=30, request_timeout_s=20)  # type: ignore[call-arg]
    assert short.admission_bound_s == 20
    assert Settings(_env_file=None).admission_bound_s == 10  # type: ignore[call-arg]


async def _offer(url: str, per_wave: int, waves: int, every_s: float) -> list[Outcome]:
    """Open-loop load: `per_wave` requests every `every_s` seconds, whatever the answers."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def one() -> Outcome:
            t0 = time.perf_counter()
            r = await http.post("/v1/solve", json={"question": QUESTION, "strategy": "greedy"})
            return r.status_code, time.perf_counter() - t0, r.headers.get("retry-after")

        tasks = []
        for _ in range(waves):
            tasks += [asyncio.create_task(one()) for _ in range(per_wave)]
            await asyncio.sleep(every_s)
        return list(await asyncio.gather(*tasks))


Outcome = tuple[int, float, str | None]


def test_under_overload_accepted_requests_wait_boundedly(
    serve: Callable[..., LiveServer],
) -> None:
    # 0.05 s a call, one at a time: 20 solves a second, offered 80 a second for 3 s.
    engine = scripted_engine(student=SerialGenerator(0.05))
    live = serve(engine=engine, redis_url=None, admit_within_s=1.0, max_in_flight=500)
    out = asyncio.run(_offer(live.url, per_wave=20, waves=12, every_s=0.25))
    accepted = [t for status, t, _ in out if status == 200]
    shed = [(t, after) for status, t, after in out if status == 503]
    assert len(accepted) + len(shed) == len(out) and shed and accepted
    # Without the bound every request is accepted and the last waits about 9 s.
    assert max(accepted) < 2.5
    assert max(t for t, _ in shed) < 1.0  # refused at once, not after waiting
    assert all(after is not None and int(after) >= 1 for _, after in shed)
