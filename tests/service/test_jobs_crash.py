"""A worker process killed with SIGKILL mid-job: the other worker process takes the job
over when its lease runs out and finishes it; every item has exactly one result."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from service.jobs.protocol import JobRequest
from service.jobs.queue import JobQueue
from service.jobs.store import connect
from service.settings import Settings
from tests.service.jobs_support import question, redis_server, wait_for

ROOT = Path(__file__).resolve().parents[2]
N = 20


def start_worker(url: str, prefix: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GLORE_REDIS_URL": url,
        "GLORE_JOB_PREFIX": prefix,
        "GLORE_JOB_HEARTBEAT_S": "1",
        "GLORE_JOB_POLL_S": "0.05",
        "GLORE_JOB_BATCH_SIZE": "2",
        "GLORE_ENGINE_FACTORY": "tests.service.jobs_support:make_engine",
        "GLORE_TEST_DELAY_S": "0.15",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "service.jobs.cli", "--concurrency", "1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def submit(url: str, prefix: str) -> str:
    queue = JobQueue(connect(url), Settings(redis_url=url, job_prefix=prefix))
    try:
        req = JobRequest.model_validate(
            {"items": [{"id": f"q{i}", "question": question(i)} for i in range(N)]}
        )
        job_id, _ = await queue.submit(req, None)
        return job_id
    finally:
        await queue.aclose()


def test_a_killed_worker_s_job_is_finished_by_another_with_no_item_lost_or_doubled(
    tmp_path: Path,
) -> None:
    prefix = "crash"
    with redis_server(tmp_path) as url:
        logs = [tmp_path / "worker-0.log", tmp_path / "worker-1.log"]
        workers = [start_worker(url, prefix, log) for log in logs]
        try:
            wait_for(lambda: all(b"ready" in log.read_bytes() for log in logs), timeout_s=30)
            job_id = asyncio.run(submit(url, prefix))
            r = redis.Redis.from_url(url, decode_responses=True)
            record = f"{prefix}:job:{job_id}"

            def mid_job() -> str | None:
                owner, ok = r.hmget(record, ["owner", "ok"])
                return str(owner) if owner and 4 <= int(ok or 0) < N - 6 else None

            owner = wait_for(mid_job, timeout_s=30, poll_s=0.01)
            victim = next(w for w in workers if f":{w.pid}:" in owner)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            killed_at = int(r.hget(record, "ok") or 0)
            assert killed_at < N

            started = time.monotonic()
            wait_for(lambda: r.hget(record, "state") == "done", timeout_s=30, poll_s=0.02)
            took_over_in = time.monotonic() - started
            survivor = next(w for w in workers if w is not victim)
            assert survivor.poll() is None

            fields = r.hgetall(record)
            assert (fields["ok"], fields["failed"], fields["total"]) == (str(N), "0", str(N))
            assert fields["claims"] == "2" and fields["takeovers"] == "1"
            assert "owner" not in fields and fields["finished_ms"]
            results = r.hgetall(f"{record}:results")
            assert sorted(int(i) for i in results) == list(range(N))  # none lost
            lines = [json.loads(results[str(i)]) for i in range(N)]
            assert [x["id"] for x in lines] == [f"q{i}" for i in range(N)]  # none doubled
            assert [x["result"]["answer"] for x in lines] == [str(i) for i in range(N)]
            assert r.llen(f"{prefix}:queue") == 0 and r.zcard(f"{prefix}:leases") == 0
            survivor_log = logs[workers.index(survivor)].read_text()
            assert f"job {job_id}: its worker went silent; now queued" in survivor_log
            # it resumed from the items without a result, not from scratch
            assert f"(attempt 2); {N - killed_at} of {N} items to do" in survivor_log
            assert took_over_in < 15
            r.close()
        finally:
            for w in workers:
                if w.poll() is None:
                    w.send_signal(signal.SIGTERM)
            for w in workers:
                try:
                    w.wait(10)
                except subprocess.TimeoutExpired:
                    w.kill()
                    w.wait()
