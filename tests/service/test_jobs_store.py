"""The job store's atomic steps on a real Redis: claims, leases and their reaping, fencing
of a stale worker, results written once, the takeover limit, hand-back and the time limit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from service.jobs.items import backoff_s
from service.jobs.protocol import JobRequest
from service.jobs.queue import JobQueue
from service.jobs.store import JobStore, connect
from service.jobs.worker import JobWorker
from service.settings import Settings
from tests.service.jobs_support import (
    REDIS_URL,
    ScriptedStudent,
    engine,
    job_settings,
    question,
    require_redis,
)


@pytest.fixture(scope="module", autouse=True)
def _redis_up() -> None:
    require_redis()


@pytest.fixture
def settings() -> Iterator[Settings]:
    with job_settings(job_batch_size=2) as s:
        yield s


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def submit(settings: Settings, n: int, **kwargs: Any) -> str:
    queue = JobQueue(connect(REDIS_URL), settings)
    try:
        req = JobRequest.model_validate({"items": [{"question": question(i)} for i in range(n)]})
        job_id, _ = await queue.submit(req, kwargs.get("idempotency_key"))
        return job_id
    finally:
        await queue.aclose()


def line(i: int) -> str:
    return json.dumps({"index": i, "id": str(i), "status": "ok", "attempts": 1})


def test_a_reaped_lease_fences_the_old_holder_and_results_are_written_once(
    settings: Settings,
) -> None:
    async def scenario() -> None:
        job_id = await submit(settings, 3)
        r = connect(REDIS_URL)
        store = JobStore(r, settings.job_prefix)
        try:
            a = await store.claim("worker-a:1", lease_ms=50)
            assert a is not None and a.job_id == job_id and a.claims == 1
            assert await store.claim("worker-b:1", lease_ms=50) is None  # nothing else queued
            assert await store.write(job_id, a.token, [(0, "ok", line(0))], ttl_s=60) == 1
            await asyncio.sleep(0.1)  # worker a goes silent past its lease
            assert await store.reap(max_takeovers=3, ttl_s=60) == [(job_id, "queued")]
            b = await store.claim("worker-b:1", lease_ms=5000)
            assert b is not None and b.job_id == job_id and b.claims == 2
            assert b.started_ms == a.started_ms  # the time limit counts from the first start
            # a wakes up: every write and heartbeat of its stale token is refused
            assert await store.write(job_id, a.token, [(1, "ok", line(1))], ttl_s=60) == -1
            assert not (await store.heartbeat(job_id, a.token, 5000)).held
            assert not await store.finish(job_id, a.token, "done", error=None, ttl_s=60)
            # b re-runs items 0..2: item 0 is already recorded and is not counted again
            lines = [(i, "ok", line(i)) for i in range(3)]
            assert await store.write(job_id, b.token, lines, ttl_s=60) == 2
            assert await store.write(job_id, b.token, lines, ttl_s=60) == 0
            assert await store.finish(job_id, b.token, "done", error=None, ttl_s=60)
            record = await store.record(job_id)
            assert record is not None and record.state == "done"
            assert (record.ok, record.failed, record.takeovers) == (3, 0, 1)
            assert await r.hlen(store.results_key(job_id)) == 3
            assert await r.zcard(store.leases_key) == 0 and await store.queue_depth() == 0
        finally:
            await r.aclose()

    run(scenario())


def test_a_job_whose_workers_keep_dying_is_given_up(settings: Settings) -> None:
    async def scenario() -> None:
        job_id = await submit(settings, 1)
        r = connect(REDIS_URL)
        store = JobStore(r, settings.job_prefix)
        try:
            outcomes = []
            for n in range(3):
                assert await store.claim(f"w:{n}", lease_ms=1) is not None
                await asyncio.sleep(0.01)
                outcomes += [o for _, o in await store.reap(max_takeovers=2, ttl_s=60)]
            assert outcomes == ["queued", "queued", "failed"]
            record = await store.record(job_id)
            assert record is not None and record.state == "failed"
            assert record.error is not None and "went silent 3 times" in record.error
            assert record.finished_ms is not None and await store.queue_depth() == 0
        finally:
            await r.aclose()

    run(scenario())


def test_cancel_of_a_job_whose_worker_died_ends_it_at_the_reap(settings: Settings) -> None:
    async def scenario() -> None:
        job_id = await submit(settings, 1)
        r = connect(REDIS_URL)
        store = JobStore(r, settings.job_prefix)
        try:
            assert await store.claim("w:1", lease_ms=1) is not None
            assert await store.cancel(job_id, ttl_s=60) == "cancelling"
            await asyncio.sleep(0.01)
            assert await store.reap(max_takeovers=3, ttl_s=60) == [(job_id, "cancelled")]
            assert await store.claim("w:2", lease_ms=1000) is None
            assert await store.cancel(job_id, ttl_s=60) == "cancelled"
            assert await store.cancel("0" * 32, ttl_s=60) is None
        finally:
            await r.aclose()

    run(scenario())


def test_a_stopping_worker_hands_its_job_back_and_another_resumes_it(
    settings: Settings,
) -> None:
    async def scenario() -> None:
        job_id = await submit(settings, 12)
        slow = ScriptedStudent(delay_s=0.05)
        first = JobWorker(settings, engine(slow))
        stop = asyncio.Event()
        running = asyncio.create_task(first.run(stop))
        store = first.store
        while (rec := await store.record(job_id)) is None or rec.done < 4:
            await asyncio.sleep(0.01)
        stop.set()  # SIGTERM: the batch in flight is dropped, the job goes back at once
        await running
        await first.aclose()
        rec = await store.record(job_id)
        assert rec is not None and rec.state == "queued" and 4 <= rec.done < 12
        done_before = rec.done
        resumed = ScriptedStudent()
        second = JobWorker(settings, engine(resumed))
        stop2 = asyncio.Event()
        task = asyncio.create_task(second.run(stop2))
        while (rec := await second.store.record(job_id)) is None or rec.state != "done":
            await asyncio.sleep(0.01)
        stop2.set()
        await task
        # the second worker solved only the items without a result
        assert sum(len(p) for _, p in resumed.calls) == 12 - done_before
        assert rec.ok == 12 and rec.claims == 2 and rec.takeovers == 0
        assert await second.redis.hlen(second.store.results_key(job_id)) == 12
        await second.aclose()

    run(scenario())


def test_a_job_past_its_time_limit_fails_keeping_its_results(settings: Settings) -> None:
    limited = settings.model_copy(update={"job_timeout_s": 1})  # below the setting's bound
    slow = ScriptedStudent(delay_s=0.2)

    async def scenario() -> None:
        job_id = await submit(limited, 40)
        worker = JobWorker(limited, engine(slow))
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        while (rec := await worker.store.record(job_id)) is None or rec.state != "failed":
            await asyncio.sleep(0.02)
        stop.set()
        await task
        assert rec.error is not None and "GLORE_JOB_TIMEOUT_S=1" in rec.error
        assert 0 < rec.done < 40
        assert await worker.redis.hlen(worker.store.results_key(job_id)) == rec.done
        await worker.aclose()

    run(scenario())


def test_backoff_doubles_and_is_capped() -> None:
    import random

    rng = random.Random(0)
    delays = [backoff_s(1.0, n, rng) for n in (1, 2, 3, 20)]
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2 and 2 <= delays[2] <= 4
    assert 150 <= delays[3] <= 300 and backoff_s(0, 3, rng) == 0
