"""The job worker: claims jobs, solves their items in engine batches, records each result once.

One process loads the engine once and runs `concurrency` jobs at a time. For each job:

- it holds a lease of `GLORE_JOB_HEARTBEAT_S`, renewed every third of that (at most every
  2 s); the same heartbeat brings news of a cancel and of the job's time limit
  (`GLORE_JOB_TIMEOUT_S`, counted from the job's first start), and stops the job: the
  batch in flight is dropped;
- it solves the items that have no result yet, `GLORE_JOB_BATCH_SIZE` per
  `engine.asolve_batch` call, and records each batch's results in one fenced write;
- a batch that raises is split in two and both halves go again at once, so one bad item
  cannot fail its neighbours; an item that raises on its own is retried after a backoff
  (`GLORE_JOB_RETRY_BACKOFF_S`, doubled per retry) up to `GLORE_JOB_ITEM_RETRIES` times,
  then recorded failed with the error; a non-retryable `GloreError` is recorded at once
  (which items go next, and each one's result line: `service.jobs.items`);
- on SIGTERM/SIGINT it drops the batches in flight and hands its jobs back to the queue,
  where the next worker resumes them.

Every worker also reaps: a job whose lease ran out (its worker was killed, or lost Redis)
goes back to the queue, and the next worker resumes it from the items without a result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

from redis.exceptions import RedisError

from glore.engine.glore import GLoRe
from glore.errors import BackendError, ConfigError
from service.engine import load_engine
from service.jobs.items import Plan, result_line
from service.jobs.protocol import JobState
from service.jobs.store import Claim, JobStore, connect, new_token
from service.metrics import JOB_OUTCOMES, QUEUE_DEPTH
from service.settings import Settings

log = logging.getLogger("glore.jobs")

T = TypeVar("T")


@dataclass(eq=False)
class _Job:
    claim: Claim
    halt: asyncio.Event = field(default_factory=asyncio.Event)
    lost: bool = False
    cancel: bool = False
    timed_out: bool = False

    @property
    def job_id(self) -> str:
        return self.claim.job_id


class JobWorker:
    """Runs jobs from the store until `stop` is set; see the module's docstring."""

    def __init__(
        self,
        settings: Settings,
        engine: GLoRe,
        *,
        concurrency: int = 1,
        worker_id: str | None = None,
        seed: int | None = None,
    ) -> None:
        if not settings.redis_url:
            raise ConfigError("the job worker needs Redis: set GLORE_REDIS_URL")
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1; got {concurrency}")
        self.settings = settings
        self.engine = engine
        self.concurrency = concurrency
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.redis = connect(settings.redis_url, timeout_s=max(5.0, settings.job_heartbeat_s))
        self.store = JobStore(self.redis, settings.job_prefix)
        self.lease_ms = settings.job_heartbeat_s * 1000
        self.rng = random.Random(seed)
        self._stop = asyncio.Event()
        self._active: set[_Job] = set()

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Work until `stop` is set (or the task is cancelled); then hand back held jobs."""
        if stop is not None:
            self._stop = stop
        log.info("worker %s ready (concurrency %d)", self.worker_id, self.concurrency)
        slots = [asyncio.create_task(self._slot()) for _ in range(self.concurrency)]
        reaper = asyncio.create_task(self._reaper())
        try:
            await self._stop.wait()
        finally:
            self._stop.set()
            for job in list(self._active):
                job.halt.set()
            await asyncio.gather(*slots, return_exceptions=True)
            reaper.cancel()
            await asyncio.gather(reaper, return_exceptions=True)
            log.info("worker %s stopped", self.worker_id)

    async def _sleep(self, seconds: float, event: asyncio.Event | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for((event or self._stop).wait(), seconds)

    async def _slot(self) -> None:
        while not self._stop.is_set():
            try:
                claim = await self.store.claim(new_token(self.worker_id), self.lease_ms)
            except RedisError as exc:
                log.warning("cannot reach Redis to claim a job: %s", exc)
                await self._sleep(max(1.0, self.settings.job_poll_s))
                continue
            if claim is None:
                await self._sleep(self.settings.job_poll_s)
                continue
            await self._run(claim)

    async def _reaper(self) -> None:
        interval = min(10.0, max(0.2, self.lease_ms / 2000))
        while not self._stop.is_set():
            try:
                taken = await self.store.reap(
                    max_takeovers=self.settings.job_max_takeovers,
                    ttl_s=self.settings.result_ttl_s,
                )
                for job_id, outcome in taken:
                    log.warning("job %s: its worker went silent; now %s", job_id, outcome)
                    if outcome != "queued":
                        JOB_OUTCOMES.labels(outcome=outcome).inc()
                QUEUE_DEPTH.set(await self.store.queue_depth())
            except RedisError as exc:
                log.warning("cannot reach Redis to reap jobs: %s", exc)
            await self._sleep(interval)

    async def _run(self, claim: Claim) -> None:
        job = _Job(claim)
        self._active.add(job)
        if self._stop.is_set():
            job.halt.set()
        beat = asyncio.create_task(self._heartbeat(job))
        try:
            await self._process(job)
        except RedisError as exc:
            log.warning(
                "job %s: lost Redis (%s); its lease runs out and a worker resumes it",
                job.job_id,
                exc,
            )
        except Exception as exc:
            log.exception("job %s: worker error", job.job_id)
            with contextlib.suppress(RedisError):
                await self._finish(job, "failed", f"worker error: {type(exc).__name__}: {exc}")
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
            self._active.discard(job)

    async def _heartbeat(self, job: _Job) -> None:
        interval = min(2.0, self.lease_ms / 3000)  # renews the lease, brings cancel news
        timeout_ms = self.settings.job_timeout_s * 1000
        while True:
            try:
                beat = await self.store.heartbeat(job.job_id, job.claim.token, self.lease_ms)
            except RedisError as exc:
                log.warning("job %s: heartbeat failed: %s", job.job_id, exc)
            else:
                if not beat.held:
                    log.warning("job %s: lease lost to another worker; stopping", job.job_id)
                    job.lost = True
                    job.halt.set()
                    return
                if beat.cancel and not job.cancel:
                    log.info("job %s: cancel requested", job.job_id)
                    job.cancel = True
                    job.halt.set()
                if beat.now_ms - job.claim.started_ms > timeout_ms and not job.timed_out:
                    job.timed_out = True
                    job.halt.set()
            await asyncio.sleep(interval)

    async def _until(self, job: _Job, work: Awaitable[T]) -> tuple[bool, T | None]:
        """Run `work` unless the job halts first: -> (finished, its result)."""
        task = asyncio.ensure_future(work)
        halted = asyncio.ensure_future(job.halt.wait())
        try:
            await asyncio.wait({task, halted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            halted.cancel()
        if task.done():
            return True, task.result()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False, None

    async def _write(self, job: _Job, lines: list[tuple[int, str, str]]) -> bool:
        added = await self.store.write(
            job.job_id, job.claim.token, lines, ttl_s=self.settings.result_ttl_s
        )
        if added < 0:
            log.warning("job %s: lease lost to another worker; stopping", job.job_id)
            job.lost = True
            job.halt.set()
            return False
        return True

    async def _finish(self, job: _Job, state: JobState, error: str | None = None) -> None:
        if await self.store.finish(
            job.job_id, job.claim.token, state, error=error, ttl_s=self.settings.result_ttl_s
        ):
            log.info("job %s: %s%s", job.job_id, state, f" ({error})" if error else "")
            JOB_OUTCOMES.labels(outcome=state).inc()

    async def _process(self, job: _Job) -> None:
        record = await self.store.record(job.job_id)
        if record is None:  # expired between the claim and now
            return
        options = dict(record.options)
        strategy = str(options.pop("strategy", "glore"))
        items = await self.store.items(job.job_id)
        recorded = await self.store.recorded_indices(job.job_id)
        plan = Plan([i for i in range(len(items)) if i not in recorded], self.settings)
        log.info(
            "job %s: claimed (attempt %d); %d of %d items to do",
            job.job_id,
            job.claim.claims,
            plan.left(),
            len(items),
        )
        loop = asyncio.get_running_loop()

        while plan.left() and not job.halt.is_set():
            wait = plan.wait_s(loop.time())
            if wait > 0:
                await self._sleep(wait, job.halt)
                continue
            group = plan.take(loop.time())
            work = self.engine.asolve_batch(
                [items[i]["question"] for i in group], strategy, **options
            )
            try:
                finished, results = await self._until(job, work)
                if finished and (results is None or len(results) != len(group)):
                    got = None if results is None else len(results)
                    raise BackendError(f"engine gave {got} results for {len(group)} questions")
            except Exception as exc:
                failed = plan.failed(group, exc, loop.time(), self.rng)
                if failed is not None:
                    line = result_line(failed, items[failed]["id"], plan.tries(failed), error=exc)
                    log.info("job %s: item %d failed: %r", job.job_id, failed, exc)
                    if not await self._write(job, [(failed, "failed", line)]):
                        return
                continue
            if not finished or results is None:
                plan.put_back(group)
                break
            lines = [
                (i, "ok", result_line(i, items[i]["id"], plan.tries(i) + 1, result=r))
                for i, r in zip(group, results, strict=True)
            ]
            if not await self._write(job, lines):
                return
        await self._conclude(job, plan.left())

    async def _conclude(self, job: _Job, left: int) -> None:
        """Finish the job, or hand it back when the worker is stopping."""
        if job.lost:
            return
        if not left:
            await self._finish(job, "done")
        elif job.cancel:
            await self._finish(job, "cancelled")
        elif job.timed_out:
            limit = self.settings.job_timeout_s
            error = f"ran past GLORE_JOB_TIMEOUT_S={limit} s; {left} items have no result"
            await self._finish(job, "failed", error)
        elif await self.store.release(job.job_id, job.claim.token):
            log.info("job %s: handed back to the queue (%d items left)", job.job_id, left)


def run_worker(settings: Settings, *, concurrency: int = 1, engine: GLoRe | None = None) -> None:
    """The worker process: load the engine once, run jobs until SIGTERM or SIGINT."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not settings.redis_url:
        raise ConfigError("the job worker needs Redis: set GLORE_REDIS_URL")
    served = engine if engine is not None else load_engine(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        worker = JobWorker(settings, served, concurrency=concurrency)
        try:
            await worker.run(stop)
        finally:
            await worker.aclose()

    asyncio.run(main())
