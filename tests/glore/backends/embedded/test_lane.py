"""The compute lane: one thread runs every embedded model's loads, scorer batches and
decode steps."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from glore.backends.base import SamplingParams
from glore.backends.embedded import EmbeddedGenerator
from glore.backends.embedded.lane import LANE, Lane
from glore.errors import BackendError

STUDENT = Path(__file__).resolve().parents[4] / "model_store" / "default" / "student"


class Counter:
    """A driver with `left` steps of work; it records the thread each step ran on."""

    def __init__(self, left: int, fail_at: int | None = None) -> None:
        self.left, self.fail_at = left, fail_at
        self.threads: set[int] = set()
        self.aborted: BaseException | None = None
        self.steps = 0

    def step(self) -> bool:
        self.threads.add(threading.get_ident())
        if self.left == 0:
            return False
        self.steps += 1
        if self.steps == self.fail_at:
            raise RuntimeError("broken step")
        self.left -= 1
        return True

    def has_work(self) -> bool:
        return self.left > 0

    def abort(self, error: BaseException) -> None:
        self.aborted = error
        self.left = 0


def _until(check, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the lane did not finish in time"
        time.sleep(0.005)


def test_jobs_run_in_order_on_one_thread_and_errors_come_back() -> None:
    lane = Lane("test-lane")
    seen: list[tuple[int, int]] = []
    futures = [lane.submit(lambda i=i: seen.append((i, threading.get_ident()))) for i in range(5)]
    for f in futures:
        f.result(timeout=10)
    assert [i for i, _ in seen] == [0, 1, 2, 3, 4]
    assert len({t for _, t in seen}) == 1 and seen[0][1] != threading.get_ident()
    with pytest.raises(ZeroDivisionError):
        lane.call(lambda: 1 / 0)
    assert lane.call(lambda: lane.call(lambda: 7)) == 7  # a call from the lane runs inline


def test_drivers_are_stepped_in_turn_until_they_run_out() -> None:
    lane = Lane("test-lane")
    a, b = Counter(30), Counter(5)
    lane.activate(a)
    lane.activate(b)
    lane.activate(a)  # activating an active driver does not step it twice
    _until(lambda: a.left == 0 and b.left == 0)
    assert a.steps == 30 and b.steps == 5
    assert a.threads == b.threads and len(a.threads) == 1
    _until(lambda: not lane._drivers)  # idle drivers leave the lane
    a.left = 3
    lane.activate(a)  # and come back with new work
    _until(lambda: a.left == 0)


def test_a_driver_that_raises_is_aborted_and_the_lane_goes_on() -> None:
    lane = Lane("test-lane")
    broken, fine = Counter(10, fail_at=2), Counter(4)
    lane.activate(broken)
    lane.activate(fine)
    _until(lambda: broken.aborted is not None and fine.left == 0)
    assert str(broken.aborted) == "broken step"
    assert lane.call(lambda: "still running") == "still running"


def test_the_lane_counts_its_busy_time_by_kind() -> None:
    lane = Lane("test-lane")
    before = lane.time()
    lane.call(lambda: time.sleep(0.2))

    class Slow(Counter):
        def step(self) -> bool:
            busy = super().step()
            if busy:
                time.sleep(0.02)
            return busy

    driver = Slow(10)
    lane.activate(driver)
    _until(lambda: driver.left == 0)
    spent = lane.time() - before
    assert 0.2 <= spent.jobs_s < 0.2 + 0.1
    assert 10 * 0.02 <= spent.steps_s < 10 * 0.02 + 0.1


def test_a_cancelled_job_does_not_run() -> None:
    lane = Lane("test-lane")
    gate = threading.Event()
    ran: list[int] = []
    blocker = lane.submit(gate.wait)
    queued = lane.submit(lambda: ran.append(1))
    assert queued.cancel()
    gate.set()
    blocker.result(timeout=10)
    lane.call(lambda: None)
    assert ran == []


def test_acall_awaits_the_lane_off_the_event_loop() -> None:
    lane = Lane("test-lane")

    async def main() -> tuple[int, int]:
        return threading.get_ident(), await lane.acall(threading.get_ident)

    loop_thread, ran_on = asyncio.run(main())
    assert ran_on != loop_thread and ran_on == lane.call(threading.get_ident)


def test_the_default_student_loads_decodes_and_refuses_to_wait_on_the_lane() -> None:
    if not (STUDENT / "config.json").is_file():
        pytest.skip(f"missing {STUDENT / 'config.json'}")
    gen = EmbeddedGenerator.from_pretrained(STUDENT, device="cpu")
    lane_thread = LANE.call(threading.get_ident)
    stepped: set[int] = set()
    step = gen.scheduler.step

    def recording_step() -> bool:
        stepped.add(threading.get_ident())
        return step()

    gen.scheduler.step = recording_step  # type: ignore[method-assign]
    params = SamplingParams(max_tokens=4)
    out = gen.generate_sync(["Question: 2 + 3?\nAnswer:\n"], params)
    assert out[0][0].tokens >= 1 and stepped == {lane_thread}
    with pytest.raises(BackendError, match="from the lane itself") as err:
        LANE.call(lambda: gen.generate_sync(["Question: 1 + 1?\nAnswer:\n"], params))
    assert err.value.retryable is False


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_lane_of_its_own() -> None:
    import os

    assert LANE.call(lambda: 1) == 1  # the parent's lane thread is running
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread is not here, the lane must start anew
        code = 1
        try:
            code = 0 if LANE.submit(lambda: 2).result(timeout=10) == 2 else 1
        finally:
            os._exit(code)  # never return into the parent's test run
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
