"""`glore bench service` on tiny parameters: the report's shape, and no errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.service import bench_service, format_report
from tests.service.jobs_support import free_port, redis_server

STORE = Path(__file__).resolve().parents[2] / "model_store" / "default"
pytestmark = pytest.mark.skipif(
    not (STORE / "student" / "config.json").is_file(), reason=f"{STORE} is absent"
)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private redis-server; without one, a closed port (the job part then skips)."""
    if shutil.which("redis-server") is None:
        yield f"redis://127.0.0.1:{free_port()}/0"
        return
    with redis_server(tmp_path) as url:
        yield url


def test_bench_service_tiny(redis_url: str) -> None:
    report = bench_service(str(STORE), clients=2, seconds=2.0, job_items=4, redis_url=redis_url)
    http = report["http"]
    assert {"clients", "requests", "ok", "errors", "errors_by_kind", "throughput_rps",
            "latency_p50_ms", "latency_p99_ms"} <= set(http)  # fmt: skip
    assert http["errors"] == 0, http["errors_by_kind"]
    assert http["ok"] >= 1 and http["throughput_rps"] > 0
    assert http["latency_p50_ms"] <= http["latency_p99_ms"]
    jobs = report["jobs"]
    if shutil.which("redis-server") is None:
        assert "does not answer" in jobs["skipped"]
    else:
        assert jobs["skipped"] is None
        assert jobs["job_state"] == "done"
        assert (jobs["items"], jobs["items_ok"], jobs["items_failed"]) == (4, 4, 0)
        assert jobs["direct_items_ok"] == 4
        assert jobs["worker_items_per_s"] > 0 and jobs["direct_items_per_s"] > 0
        assert jobs["worker_over_direct"] > 0
    assert "requests/s" in format_report(report)


def test_bench_service_says_why_jobs_skip() -> None:
    report = bench_service(
        str(STORE),
        clients=1,
        seconds=0.5,
        job_items=2,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )
    assert report["http"]["errors"] == 0
    assert "does not answer" in report["jobs"]["skipped"]
    assert "skipped" in format_report(report)


def test_bench_overload_tiny() -> None:
    from bench.overload import bench_overload, format_overload

    report = bench_overload(str(STORE), factor=2.0, seconds=1.5, clients=2)
    assert report["capacity_rps"] > 0
    for name in ("bounded_wait", "count_only"):
        r = report[name]
        assert (
            r["offered"] >= 1
            and r["accepted"] + r["shed"] + sum(r["other"].values()) == r["offered"]
        )
        assert r["accepted"] >= 1 and r["accepted_p50_s"] <= r["accepted_p99_s"]
    assert report["count_only"]["shed"] == 0  # 64 slots hold 1.5 s of twice the capacity
    assert "bounded_wait" in format_overload(report)
