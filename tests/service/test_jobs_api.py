"""The job routes over real HTTP (uvicorn on loopback), a real Redis and an in-process
worker over a scripted engine: lifecycle, progress, item failures and retries, cancel,
idempotency, result pages and streams, expiry, bounds, and Redis being absent."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import pytest
import redis
from fastapi import FastAPI

from glore.errors import InvalidInputError
from service.client import ServiceError
from service.jobs.client import AsyncJobsClient, JobsClient
from service.jobs.protocol import JobStatus
from service.jobs.routes import router
from service.problems import PROBLEM_JSON
from service.settings import Settings
from tests.service.jobs_support import (
    REDIS_URL,
    ScriptedStudent,
    WorkerThread,
    engine,
    free_port,
    job_settings,
    question,
    require_redis,
    serve,
    wait_for,
)


@pytest.fixture(scope="module", autouse=True)
def _redis_up() -> None:
    require_redis()


@pytest.fixture
def settings() -> Iterator[Settings]:
    with job_settings(job_batch_size=4, job_item_retries=2) as s:
        yield s


def make_app(settings: Settings) -> FastAPI:
    app = FastAPI()
    app.state.glore = SimpleNamespace(settings=settings)
    app.include_router(router)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    with serve(make_app(settings)) as url:
        yield url


def items(n: int) -> list[dict[str, str]]:
    return [{"id": f"item-{i}", "question": question(i)} for i in range(n)]


def test_a_job_runs_in_engine_batches_with_progress(settings: Settings, base_url: str) -> None:
    student = ScriptedStudent(delay_s=0.1)
    with httpx.Client(base_url=base_url) as http:
        r = http.post("/v1/jobs", json={"items": items(10), "strategy": "glore"})
        assert r.status_code == 202, r.text
        body = r.json()
        job_id = body["job_id"]
        assert r.headers["location"] == f"{base_url}/v1/jobs/{job_id}"
        assert body["state"] == "queued" and body["progress"] == {
            "done": 0, "ok": 0, "failed": 0, "total": 10,
        }  # fmt: skip
        assert body["replayed"] is False and body["started_at"] is None

    seen: list[tuple[str, int]] = []
    with WorkerThread(settings, engine(student)), JobsClient(base_url) as client:
        status = client.wait(
            job_id, poll_s=0.01, on_progress=lambda s: seen.append((s.state, s.progress.done))
        )
    assert status.state == "done" and status.progress.done == status.progress.ok == 10
    assert status.created_at <= status.started_at <= status.finished_at  # type: ignore[operator]
    assert status.attempts == 1 and status.errors == [] and status.error is None
    assert seen[0] in (("queued", 0), ("running", 0)) and seen[-1] == ("done", 10)
    assert [d for _, d in seen] == sorted(d for _, d in seen)  # progress only grows
    assert any(0 < d < 10 for _, d in seen)  # and is seen while the job runs
    # 10 items, batches of 4: three engine calls (the student drafts once per batch)
    assert [len(prompts) for _, prompts in student.calls] == [4, 4, 2]

    with JobsClient(base_url) as client:
        lines = list(client.iter_results(job_id))
    assert [line.index for line in lines] == list(range(10))
    assert [line.id for line in lines] == [f"item-{i}" for i in range(10)]
    assert all(line.status == "ok" and line.attempts == 1 for line in lines)
    assert [line.result["answer"] for line in lines if line.result] == [str(i) for i in range(10)]


def test_a_failing_item_is_recorded_and_the_job_still_finishes(
    settings: Settings, base_url: str
) -> None:
    batch = [*items(6), {"id": "bad", "question": question(99, " POISON")}, *items(9)[6:]]
    student = ScriptedStudent(fail_on="POISON")
    with WorkerThread(settings, engine(student)), JobsClient(base_url) as client:
        job_id = client.submit_job(batch)
        status = client.wait(job_id, poll_s=0.01, timeout_s=20)
        lines = {line.id: line for line in client.iter_results(job_id)}
    assert status.state == "done"
    assert status.progress.model_dump() == {"done": 10, "ok": 9, "failed": 1, "total": 10}
    (failed,) = status.errors
    assert failed.id == "bad" and failed.index == 6
    assert failed.error.type == "BackendError" and failed.error.retryable
    assert failed.attempts == settings.job_item_retries + 1
    assert lines["bad"].status == "failed" and lines["bad"].result is None
    assert all(line.status == "ok" for key, line in lines.items() if key != "bad")
    # the poisoned batch was split until the bad item was alone; its neighbours were solved
    assert sum(1 for _, p in student.calls if len(p) == 1 and "POISON" in p[0]) == 3


def test_a_flaky_item_is_retried_with_backoff(settings: Settings, base_url: str) -> None:
    settings = settings.model_copy(update={"job_retry_backoff_s": 0.2})
    student = ScriptedStudent(fail_on="FLAKY", fail_times=2)
    with WorkerThread(settings, engine(student), seed=1), JobsClient(base_url) as client:
        job_id = client.submit_job([question(5, " FLAKY")])
        status = client.wait(job_id, poll_s=0.01, timeout_s=20)
        (line,) = client.iter_results(job_id)
    assert status.state == "done" and status.progress.ok == 1
    assert line.status == "ok" and line.attempts == 3
    times = [t for t, _ in student.calls]
    first, second = times[1] - times[0], times[2] - times[1]
    assert 0.1 <= first < 1.0 and 0.2 <= second < 2.0  # 0.2 then 0.4 s, jittered to 50-100 %


def test_a_non_retryable_error_fails_the_item_at_once(settings: Settings, base_url: str) -> None:
    student = ScriptedStudent(fail_on="BAD", error=lambda: InvalidInputError("bad question"))
    with WorkerThread(settings, engine(student)), JobsClient(base_url) as client:
        job_id = client.submit_job([question(1, " BAD"), question(2)])
        status = client.wait(job_id, poll_s=0.01, timeout_s=20)
    assert status.progress.failed == 1 and status.progress.ok == 1
    (failed,) = status.errors
    assert failed.attempts == 1 and failed.error.type == "InvalidInputError"
    assert failed.error.message == "bad question" and not failed.error.retryable


def test_cancel_stops_the_remaining_items(settings: Settings, base_url: str) -> None:
    settings = settings.model_copy(update={"job_batch_size": 2})
    student = ScriptedStudent(delay_s=0.1)
    with WorkerThread(settings, engine(student)), JobsClient(base_url) as client:
        job_id = client.submit_job([question(i) for i in range(40)])
        wait_for(lambda: client.job(job_id).progress.done >= 4)
        with httpx.Client(base_url=base_url) as http:
            r = http.delete(f"/v1/jobs/{job_id}")
        assert r.status_code == 202 and r.json()["cancel_requested"] is True
        status = client.wait(job_id, poll_s=0.01, timeout_s=10)
        calls = len(student.calls)
        time.sleep(0.5)  # nothing more runs
        assert len(student.calls) == calls
        lines = list(client.iter_results(job_id))
    assert status.state == "cancelled" and status.finished_at is not None
    assert 4 <= status.progress.done < 40 and len(lines) == status.progress.done
    with httpx.Client(base_url=base_url) as http:  # cancelling again changes nothing
        again = http.delete(f"/v1/jobs/{job_id}")
    assert again.status_code == 200 and again.json()["state"] == "cancelled"


def test_a_queued_job_is_cancelled_at_once_and_never_runs(
    settings: Settings, base_url: str
) -> None:
    student = ScriptedStudent()
    with JobsClient(base_url) as client:
        job_id = client.submit_job([question(1)])
        status = client.cancel(job_id)
        assert status.state == "cancelled" and status.progress.done == 0
        with WorkerThread(settings, engine(student)):
            time.sleep(0.3)
        assert student.calls == [] and client.job(job_id).state == "cancelled"


def test_an_idempotency_key_returns_the_same_job(settings: Settings, base_url: str) -> None:
    body = {"items": items(3), "idempotency_key": "batch-2026-11-26"}
    with httpx.Client(base_url=base_url) as http:
        first = http.post("/v1/jobs", json=body).json()
        again = http.post("/v1/jobs", json=body)
        by_header = http.post(
            "/v1/jobs", json={"items": items(3)}, headers={"Idempotency-Key": "batch-2026-11-26"}
        )
        other = http.post("/v1/jobs", json={**body, "items": items(4)})
        mismatch = http.post("/v1/jobs", json=body, headers={"Idempotency-Key": "another"})
    assert again.status_code == 202 and again.json()["job_id"] == first["job_id"]
    assert again.json()["replayed"] is True and first["replayed"] is False
    assert by_header.json()["job_id"] == first["job_id"]
    assert other.status_code == 409 and other.headers["content-type"] == PROBLEM_JSON
    assert other.json()["job_id"] == first["job_id"]
    assert mismatch.status_code == 422
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    assert r.lrange(f"{settings.job_prefix}:queue", 0, -1) == [first["job_id"]]  # queued once
    assert len(list(r.scan_iter(f"{settings.job_prefix}:job:*:items"))) == 1
    r.close()


def test_results_come_in_pages_and_as_a_stream(settings: Settings, base_url: str) -> None:
    with WorkerThread(settings, engine()), JobsClient(base_url) as client:
        job_id = client.submit_job([question(i) for i in range(25)])
        client.wait(job_id, poll_s=0.01, timeout_s=20)
        pages, offset = [], 0
        while True:
            page = client.results(job_id, offset=offset, limit=10)
            pages.append([line.index for line in page.results])
            if page.next_offset is None:
                break
            offset = page.next_offset
    assert pages == [list(range(10)), list(range(10, 20)), list(range(20, 25))]
    with httpx.Client(base_url=base_url) as http:
        url = f"/v1/jobs/{job_id}/results"
        stream = http.get(url, params={"offset": 5, "limit": 7}, headers={"Accept": NDJSON})
        assert stream.headers["content-type"].startswith(NDJSON)
        lines = [json.loads(x) for x in stream.text.splitlines()]
        assert [x["index"] for x in lines] == list(range(5, 12))
        page = http.get(url).json()  # JSON by default: the first 100
        assert len(page["results"]) == 25 and page["next_offset"] is None
        assert http.get(url, params={"limit": 5000}).json()["limit"] == 1000
        assert http.get(url, params={"offset": -1}).status_code == 422


NDJSON = "application/x-ndjson"


def test_results_expire_after_the_ttl(settings: Settings, base_url: str) -> None:
    short = settings.model_copy(update={"result_ttl_s": 2})  # below the setting's bound
    with serve(make_app(short)) as url, WorkerThread(short, engine()), JobsClient(url) as client:
        job_id = client.submit_job([question(1)], idempotency_key="expiring")
        assert client.wait(job_id, poll_s=0.01, timeout_s=10).state == "done"
        r = redis.Redis.from_url(REDIS_URL)
        keys = [k for k in r.scan_iter(f"{settings.job_prefix}:*") if b"queue" not in k]
        ttls = [r.pttl(k) for k in keys]
        assert len(keys) == 4 and all(0 < t <= 2000 for t in ttls)  # record, items, results, key
        wait_for(lambda: r.exists(*keys) == 0, timeout_s=5, poll_s=0.1)
        r.close()
        with pytest.raises(ServiceError) as err:
            client.job(job_id)
        assert err.value.status == 404 and err.value.title == "Job not found"
        assert client.submit_job([question(1)], idempotency_key="expiring") != job_id


def test_bounds_and_unknown_jobs_answer_problems(settings: Settings) -> None:
    tight = settings.model_copy(update={"max_job_items": 3, "max_question_chars": 30})
    with serve(make_app(tight)) as url, httpx.Client(base_url=url) as http:
        cases = {
            "too many": {"items": items(4)},
            "too long": {"items": [{"question": "x" * 31}]},
            "no items": {"items": []},
            "same ids": {"items": [{"id": "a", "question": "q"}, {"id": "a", "question": "q"}]},
            "blank": {"items": [{"question": "   "}]},
            "unknown field": {"items": [{"question": "q"}], "priority": 1},
            "bad option": {"items": [{"question": "q"}], "options": {"tau_when": 2}},
            "bad strategy": {"items": [{"question": "q"}], "strategy": "magic"},
        }
        for name, body in cases.items():
            r = http.post("/v1/jobs", json=body)
            assert r.status_code == 422, name
            assert r.headers["content-type"] == PROBLEM_JSON, name
            problem = r.json()
            assert problem["status"] == 422 and problem["errors"], name
            assert all({"loc", "msg", "type", "allowed"} <= set(e) for e in problem["errors"])
        too_long = http.post("/v1/jobs", json=cases["too long"]).json()["errors"][0]
        assert too_long["loc"] == ["body", "items", 0, "question"]
        assert too_long["allowed"] == "at most 30 characters"
        for path in ("/v1/jobs/" + "0" * 32, "/v1/jobs/nope", "/v1/jobs/nope/results"):
            r = http.get(path)
            assert r.status_code == 404 and r.headers["content-type"] == PROBLEM_JSON
            assert r.json()["allowed"] == "32 lowercase hex digits"  # what an id looks like
        assert "a job id is 32 lowercase hex digits" in http.get("/v1/jobs/nope").json()["detail"]
        assert http.delete("/v1/jobs/" + "f" * 32).status_code == 404


def test_without_redis_the_job_routes_answer_503_and_the_rest_works(
    settings: Settings,
) -> None:
    unset = settings.model_copy(update={"redis_url": None})
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    for s, title in ((unset, "Redis not configured"), (down, "Redis unreachable")):
        with serve(make_app(s)) as url, httpx.Client(base_url=url) as http:
            started = time.monotonic()
            for method, path in (("POST", "/v1/jobs"), ("GET", "/v1/jobs/" + "a" * 32)):
                r = http.request(method, path, json={"items": [{"question": "q"}]})
                assert r.status_code == 503, (title, r.text)
                assert r.headers["content-type"] == PROBLEM_JSON
                assert r.json()["title"] == title
            assert time.monotonic() - started < 5
            assert http.get("/healthz").status_code == 200
    with serve(make_app(unset)) as url, JobsClient(url) as client:
        with pytest.raises(ServiceError) as err:
            client.submit_job(["q"])
        assert err.value.status == 503 and err.value.retryable


def test_the_async_client(settings: Settings, base_url: str) -> None:
    async def run() -> tuple[JobStatus, list[str]]:
        async with AsyncJobsClient(base_url) as client:
            job_id = await client.submit_job(
                [{"id": "x", "question": question(3)}], {"mode": "gated"}, strategy="greedy"
            )
            status = await client.wait(job_id, poll_s=0.01, timeout_s=10)
            answers = [
                line.result["answer"]
                async for line in client.iter_results(job_id)
                if line.result is not None
            ]
            return status, answers

    with WorkerThread(settings, engine()):
        status, answers = asyncio.run(run())
    assert status.state == "done" and status.strategy == "greedy"
    assert status.options.mode == "gated" and answers == ["3"]
