"""`glore bench service`: the gateway and the job worker on loopback, measured in one run.

1. HTTP: the gateway (`create_app`, engine loaded from the store by its own lifespan) runs
   under uvicorn on a free 127.0.0.1 port in a thread; `clients` concurrent httpx clients
   post `/v1/solve` with `arith` validation questions for `seconds` seconds. Reported:
   throughput (ok answers per second), p50 and p99 latency, errors by kind.
2. Jobs (only when Redis answers at `redis_url`; else the report says why it skipped): a job
   of `job_items` questions goes in through the gateway under a unique job prefix; one
   `JobWorker` (its own engine, loaded as `glore worker` loads it) runs it in a thread. Then
   the same questions go straight to the engine (`GLoRe.solve_batch` in batches of
   `job_batch_size`, as the worker batches), and the report gives both rates and their
   ratio. The prefix's keys are deleted at the end.

Nothing leaves the machine: the gateway binds 127.0.0.1 and Redis is only pinged there.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections import Counter
from typing import Any

import httpx

from bench.loopback import LoopbackServer
from glore.errors import ConfigError
from service.jobs.store import delete_prefix

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def percentile(values: list[float], q: float) -> float | None:
    """The `q` quantile (0..1) by nearest rank; None when there are no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def drive(url: str, questions: list[str], clients: int, seconds: float) -> dict[str, Any]:
    """`clients` loops posting /v1/solve until `seconds` have passed (requests in flight at
    the deadline finish and count)."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    sent = 0
    start = time.perf_counter()
    deadline = start + seconds

    async def one(index: int) -> None:
        nonlocal sent
        timeout = httpx.Timeout(120.0, connect=10.0)
        async with httpx.AsyncClient(base_url=url, timeout=timeout) as http:
            i = index
            while time.perf_counter() < deadline:
                question = questions[i % len(questions)]
                i += clients
                sent += 1
                t0 = time.perf_counter()
                try:
                    response = await http.post("/v1/solve", json={"question": question})
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors[f"HTTP {response.status_code}"] += 1

    await asyncio.gather(*(one(i) for i in range(clients)))
    elapsed = time.perf_counter() - start
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    return {
        "clients": clients,
        "seconds": seconds,
        "elapsed_s": round(elapsed, 3),
        "requests": sent,
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "throughput_rps": round(len(latencies) / elapsed, 3) if elapsed > 0 else None,
        "latency_p50_ms": None if p50 is None else round(p50 * 1000, 1),
        "latency_p99_ms": None if p99 is None else round(p99 * 1000, 1),
        "latency_mean_ms": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
    }


def _redis_problem(url: str) -> str | None:
    """Why Redis at `url` cannot be used (None when it answers PING)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"Redis at {url} does not answer: {type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


def job_questions(n: int) -> list[str]:
    """`n` arith validation questions (cycled if the split has fewer)."""
    from glore.tasks.arith import ArithTask

    problems = ArithTask().load("validation", n)
    questions = [p.question for p in problems]
    if not questions:
        raise ConfigError("the arith validation split is empty")
    return [questions[i % len(questions)] for i in range(n)]


def _bench_jobs(url: str, settings: Any, questions: list[str], timeout_s: float) -> dict[str, Any]:
    """Submit one job through the gateway at `url`, run one worker in a thread until the job
    ends, then solve the same questions with the worker's engine directly."""
    from bench.worker_thread import WorkerThread
    from service.engine import load_engine
    from service.sdk import Client

    t0 = time.perf_counter()
    engine = load_engine(settings)
    load_s = time.perf_counter() - t0
    batch = settings.job_batch_size
    worker = WorkerThread(settings, engine, worker_id="bench").start()
    try:
        with Client(url, timeout_s=60.0) as client:
            submitted = time.perf_counter()
            job_id = client.submit_job(questions, idempotency_key=f"bench-{uuid.uuid4().hex}")
            status = client.wait(job_id, poll_s=0.1, timeout_s=timeout_s)
            wall_s = time.perf_counter() - submitted
    finally:
        worker.stop()
    run_s = (
        (status.finished_at - status.started_at).total_seconds()
        if status.started_at is not None and status.finished_at is not None
        else None
    )

    # The same questions straight to the engine, batched as the worker batches them.
    t0 = time.perf_counter()
    direct_ok = 0
    for start in range(0, len(questions), batch):
        results = engine.solve_batch(questions[start : start + batch], "glore")
        direct_ok += sum(1 for r in results if r is not None)
    direct_s = time.perf_counter() - t0

    n = len(questions)
    worker_rate = n / wall_s if wall_s > 0 else None
    direct_rate = n / direct_s if direct_s > 0 else None
    return {
        "skipped": None,
        "items": n,
        "strategy": "glore",
        "job_batch_size": batch,
        "job_state": status.state,
        "items_ok": status.progress.ok,
        "items_failed": status.progress.failed,
        "worker_engine_load_s": round(load_s, 3),
        "job_wall_s": round(wall_s, 3),
        "job_run_s": None if run_s is None else round(run_s, 3),
        "worker_items_per_s": None if worker_rate is None else round(worker_rate, 3),
        "direct_s": round(direct_s, 3),
        "direct_items_ok": direct_ok,
        "direct_items_per_s": None if direct_rate is None else round(direct_rate, 3),
        "worker_over_direct": (
            round(worker_rate / direct_rate, 3) if worker_rate and direct_rate else None
        ),
    }


def bench_service(
    store: str = "model_store/default",
    *,
    clients: int = 8,
    seconds: float = 20.0,
    job_items: int = 200,
    redis_url: str = DEFAULT_REDIS_URL,
    job_batch_size: int = 32,
    job_timeout_s: float = 600.0,
) -> dict[str, Any]:
    """The report (see the module's docstring); `job_items=0` skips the job part."""
    from service.app import create_app
    from service.settings import Settings

    if clients < 1 or seconds <= 0 or job_items < 0:
        raise ConfigError("clients >= 1, seconds > 0 and job_items >= 0 are required")
    questions = job_questions(64)
    skipped = "--job-items 0" if job_items == 0 else _redis_problem(redis_url)
    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    settings = Settings(
        _env_file=None,
        models=store,
        redis_url=redis_url if skipped is None else None,
        job_prefix=prefix,
        job_batch_size=job_batch_size,
        max_in_flight=max(64, clients),
        max_job_items=max(1, job_items),
        rate_limit_per_minute=1_000_000,
        job_poll_s=0.05,
    )
    report: dict[str, Any] = {
        "store": store,
        "cpus": os.cpu_count(),
        "torch_threads": _torch_threads(),
    }
    t0 = time.perf_counter()
    server = LoopbackServer(create_app(settings))
    report["gateway_start_s"] = round(time.perf_counter() - t0, 3)
    try:
        ready = httpx.get(f"{server.url}/readyz", timeout=30.0)
        if ready.status_code != 200:
            raise RuntimeError(f"the gateway is not ready: {ready.status_code} {ready.text}")
        report["http"] = asyncio.run(drive(server.url, questions, clients, seconds))
        if skipped is not None:
            report["jobs"] = {"skipped": skipped}
        else:
            try:
                report["jobs"] = _bench_jobs(
                    server.url, settings, job_questions(job_items), job_timeout_s
                )
            finally:
                delete_prefix(redis_url, prefix)
            report["jobs"]["job_prefix"] = prefix
    finally:
        server.stop()
    return report


def _torch_threads() -> int | None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return None
    return int(torch.get_num_threads())


def format_report(report: dict[str, Any]) -> str:
    """A few human lines over the JSON report."""
    h = report["http"]
    lines = [
        f"gateway /v1/solve, {h['clients']} clients x {h['seconds']} s "
        f"({report['cpus']} CPUs, {report['torch_threads']} torch threads):",
        f"  {h['ok']} ok of {h['requests']} requests in {h['elapsed_s']} s: "
        f"{h['throughput_rps']} requests/s; p50 {h['latency_p50_ms']} ms, "
        f"p99 {h['latency_p99_ms']} ms; errors {h['errors']} {h['errors_by_kind'] or ''}",
    ]
    j = report["jobs"]
    if j.get("skipped"):
        lines.append(f"jobs: skipped ({j['skipped']})")
    else:
        lines += [
            f"job of {j['items']} items ({j['strategy']}, batches of {j['job_batch_size']}): "
            f"{j['job_state']}, {j['items_ok']} ok, {j['items_failed']} failed",
            f"  worker via Redis: {j['job_wall_s']} s from submit to done = "
            f"{j['worker_items_per_s']} items/s",
            f"  engine directly:  {j['direct_s']} s = {j['direct_items_per_s']} items/s",
            f"  worker / direct: {j['worker_over_direct']}",
        ]
    return "\n".join(lines)
