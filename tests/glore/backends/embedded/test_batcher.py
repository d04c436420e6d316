import asyncio
import threading
from collections.abc import Hashable

import pytest

from glore.backends.embedded.batcher import MicroBatcher


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.threads: set[int] = set()

    def __call__(self, key: Hashable, items: list[int]) -> list[str]:
        self.batches.append(list(items))
        self.threads.add(threading.get_ident())
        if any(i < 0 for i in items):
            raise ValueError(f"negative item in {items}")
        return [f"{key}:{i * 10}" for i in items]


async def _gather(batcher: MicroBatcher[int, str], calls: list[tuple[str, list[int]]]) -> list:
    return await asyncio.gather(*(batcher.submit(k, items) for k, items in calls),
                                return_exceptions=True)  # fmt: skip


def test_concurrent_calls_share_a_batch_and_get_their_own_results() -> None:
    rec = Recorder()
    batcher: MicroBatcher[int, str] = MicroBatcher(rec, max_batch=64, max_wait_s=0.05)
    calls = [("a", [i, i + 100]) for i in range(10)]
    results = asyncio.run(_gather(batcher, calls))
    assert results == [[f"a:{i * 10}", f"a:{(i + 100) * 10}"] for i in range(10)]
    assert len(rec.batches) == 1 and len(rec.batches[0]) == 20
    assert threading.get_ident() not in rec.threads  # the model runs off the event loop


def test_batches_respect_max_batch_and_keys() -> None:
    rec = Recorder()
    batcher: MicroBatcher[int, str] = MicroBatcher(rec, max_batch=4, max_wait_s=0.05)
    calls = [("a", [1, 2]), ("a", [3, 4]), ("a", [5, 6]), ("b", [7])]
    results = asyncio.run(_gather(batcher, calls))
    assert results[2] == ["a:50", "a:60"] and results[3] == ["b:70"]
    assert all(len(b) <= 4 for b in rec.batches)
    assert [7] in rec.batches  # a different key never shares a batch


def test_a_failing_call_does_not_poison_its_batch() -> None:
    rec = Recorder()
    batcher: MicroBatcher[int, str] = MicroBatcher(rec, max_batch=64, max_wait_s=0.05)
    results = asyncio.run(_gather(batcher, [("a", [1]), ("a", [-1]), ("a", [2])]))
    assert results[0] == ["a:10"] and results[2] == ["a:20"]
    assert isinstance(results[1], ValueError)


def test_a_lone_call_waits_at_most_max_wait() -> None:
    rec = Recorder()
    batcher: MicroBatcher[int, str] = MicroBatcher(rec, max_batch=64, max_wait_s=0.0)
    assert asyncio.run(batcher.submit("k", [3])) == ["k:30"]


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_batch=0)


def test_one_batcher_serves_one_event_loop_after_another() -> None:
    """`asyncio.run` twice (a script, a benchmark, `run_sync`): the batcher's lock and
    queues belong to the loop that is running, so the second loop is served too. Two keys
    at once make the lock contended, which is what bound it to the first loop."""
    import time

    def slow(key: Hashable, items: list[int]) -> list[str]:
        time.sleep(0.02)
        return [f"{key}:{i}" for i in items]

    batcher: MicroBatcher[int, str] = MicroBatcher(slow, max_batch=4, max_wait_s=0.0)
    calls = [(k, [i]) for i in range(6) for k in ("a", "b")]

    async def both() -> list:
        return await asyncio.wait_for(_gather(batcher, calls), timeout=10)

    for _ in range(3):
        assert asyncio.run(both()) == [[f"{k}:{i}"] for k, [i] in calls]


def test_a_drain_that_dies_fails_its_calls_instead_of_hanging() -> None:
    class BoomError(Exception):
        pass

    batcher: MicroBatcher[int, str] = MicroBatcher(Recorder(), max_batch=4, max_wait_s=0.0)

    def broken(_calls: object) -> list:
        raise BoomError("grouping failed")

    batcher._groups = broken  # type: ignore[method-assign]

    async def call() -> list[str]:
        return await asyncio.wait_for(batcher.submit("a", [1]), timeout=5)

    with pytest.raises(BoomError):
        asyncio.run(call())


def test_calls_join_a_batch_until_it_starts() -> None:
    """While the batch waits for a busy lane, later calls join it: one pass, not one each."""
    rec = Recorder()
    gate = threading.Event()
    handed: list[asyncio.Event] = []

    async def busy_lane(job):  # type: ignore[no-untyped-def]
        handed[0].set()
        return await asyncio.to_thread(lambda: (gate.wait(10), job())[1])

    batcher: MicroBatcher[int, str] = MicroBatcher(
        rec, max_batch=64, max_wait_s=0.0, offload=busy_lane
    )

    async def main() -> list:
        handed.append(asyncio.Event())
        first = asyncio.ensure_future(batcher.submit("a", [1]))
        await handed[0].wait()  # the first call's batch is with the lane, not started
        later = [asyncio.ensure_future(batcher.submit("a", [i])) for i in (2, 3)]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(first, *later)

    assert asyncio.run(main()) == [["a:10"], ["a:20"], ["a:30"]]
    assert rec.batches == [[1, 2, 3]]
