"""The Python client of the whole service, sync and async: solve (whole or streamed),
critique, health, and batch jobs (submit, wait with progress, iterate results, cancel).

    from service.sdk import Client

    with Client("http://127.0.0.1:8000", api_key="...") as client:
        print(client.solve("Mia has 3 apples...").answer)
        job = client.submit_job(["question 1", "question 2"], idempotency_key="run-7")
        client.wait(job, on_progress=lambda s: print(s.progress.done, "/", s.progress.total))
        for line in client.iter_results(job):
            print(line.id, line.status)

Errors are `service.client.ServiceError` and its subclasses (problem+json mapped).
"""

from __future__ import annotations

from service.client import AsyncGloreClient, GloreClient
from service.jobs.client import AsyncJobsMixin, JobsMixin


class Client(JobsMixin, GloreClient):
    """Sync client of every route."""


class AsyncClient(AsyncJobsMixin, AsyncGloreClient):
    """Async client of every route."""


__all__ = ["AsyncClient", "Client"]
