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
