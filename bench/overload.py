"""`glore bench service --overload`: the gateway offered more than it can serve, with the
wait-bounded admission and with the count alone, side by side in one run.

First the capacity: `clients` closed-loop clients for `seconds / 2` give the requests a
second the gateway serves. Then, on a fresh gateway each, an open loop offers `factor` times
that rate for `seconds` (arrivals at fixed intervals, whatever the answers), once with the
default admission (GLORE_ADMIT_WITHIN_S) and once with the count alone (admit_within_s =
request_timeout_s, as before the bound). Reported for each: offered, accepted, shed, other
errors, and p50 / p99 latency of the accepted requests.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx

from bench.loopback import LoopbackServer
from bench.service import drive, job_questions, percentile


async def _open_loop(url: str, questions: list[str], rate: float, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(600.0)) as http:

        async def one(question: str) -> None:
            t0 = time.perf_counter()
            try:
                r = await http.post("/v1/solve", json={"question": question})
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                return
            statuses[str(r.status_code)] += 1
            if r.status_code == 200:
                latencies.append(time.perf_counter() - t0)

        tasks, start, i = [], time.perf_counter(), 0
        while (due := start + i / rate) < start + seconds:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(questions[i % len(questions)])))
            i += 1
        await asyncio.gather(*tasks)
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    return {
        "offered": i,
        "offered_rps": round(rate, 2),
        "accepted": len(latencies),
        "shed": statuses["503"],
        "other": {k: v for k, v in statuses.items() if k not in ("200", "503")},
        "accepted_p50_s": None if p50 is None else round(p50, 2),
        "accepted_p99_s": None if p99 is None else round(p99, 2),
        "p99_over_p50": None if not p50 or p99 is None else round(p99 / p50, 2),
    }


def _gateway(store: str, **overrides: Any) -> LoopbackServer:
    from service.app import create_app
    from service.settings import Settings

    settings = Settings(
        _env_file=None,
        models=store,
        redis_url=None,
        rate_limit_per_minute=1_000_000,
        **overrides,
    )
    server = LoopbackServer(create_app(settings))
    ready = httpx.get(f"{server.url}/readyz", timeout=60.0)
    if ready.status_code != 200:
        server.stop()
        raise RuntimeError(f"the gateway is not ready: {ready.status_code} {ready.text}")
    return server


def bench_overload(
    store: str = "model_store/default",
    *,
    factor: float = 4.0,
    seconds: float = 20.0,
    clients: int = 8,
) -> dict[str, Any]:
    """The report (see the module's docstring)."""
    from service.settings import Settings

    questions = job_questions(64)
    defaults = Settings(_env_file=None)
    report: dict[str, Any] = {"store": store, "factor": factor, "seconds": seconds}
    server = _gateway(store)
    try:
        capacity = asyncio.run(drive(server.url, questions, clients, seconds / 2))
        rate = factor * float(capacity["throughput_rps"] or 1.0)
        report["capacity_rps"] = capacity["throughput_rps"]
        report["bounded_wait"] = asyncio.run(_open_loop(server.url, questions, rate, seconds))
        report["bounded_wait"]["admit_within_s"] = defaults.admit_within_s
    finally:
        server.stop()
    server = _gateway(store, admit_within_s=defaults.request_timeout_s)  # the count alone
    try:
        report["count_only"] = asyncio.run(_open_loop(server.url, questions, rate, seconds))
        report["count_only"]["max_in_flight"] = defaults.max_in_flight
    finally:
        server.stop()
    return report


def format_overload(report: dict[str, Any]) -> str:
    lines = [
        f"capacity {report['capacity_rps']} requests/s; offered {report['factor']}x for "
        f"{report['seconds']} s:"
    ]
    for name in ("bounded_wait", "count_only"):
        r = report[name]
        lines.append(
            f"  {name:>12}: offered {r['offered']} ({r['offered_rps']}/s), accepted "
            f"{r['accepted']}, shed {r['shed']}, other {r['other'] or 0}; accepted p50 "
            f"{r['accepted_p50_s']} s, p99 {r['accepted_p99_s']} s (p99/p50 {r['p99_over_p50']})"
        )
    return "\n".join(lines)
