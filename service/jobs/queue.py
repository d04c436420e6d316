"""The API's side of the jobs: submit (idempotent), status, cancel, results."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from glore.engine.glore import GLoRe
from service.bounds import option_errors, question_error
from service.jobs.protocol import (
    FailedItem,
    ItemError,
    JobProgress,
    JobRequest,
    JobStatus,
)
from service.jobs.store import JOB_ID, JobStore, Record, connect, fingerprint, new_job_id
from service.metrics import QUEUE_DEPTH
from service.protocol import SolveOptions
from service.settings import Settings
from service.token_limits import token_errors

ERRORS_SHOWN = 20
STREAM_CHUNK = 500


class IdempotencyConflictError(Exception):
    """The idempotency key names a job submitted with different items or options."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


def check_request(
    req: JobRequest, settings: Settings, engine: GLoRe | None = None
) -> list[dict[str, Any]]:
    """The bounds that depend on settings (`service.bounds`, as every route checks them),
    unique ids, and (given the gateway's `engine`) each question's tokens against the
    models' context (`service.token_limits`); -> errors in pydantic's shape ({type, loc,
    msg, ctx}), at most 50; empty when the request is fine."""
    errors: list[dict[str, Any]] = []

    def bad(loc: tuple[str | int, ...], kind: str, msg: str, **ctx: Any) -> None:
        errors.append({"type": kind, "loc": ("body", *loc), "msg": msg, "ctx": ctx})

    if len(req.items) > settings.max_job_items:
        bad(
            ("items",),
            "too_long",
            f"{len(req.items)} items; at most {settings.max_job_items} are allowed",
            max_length=settings.max_job_items,
        )
    seen: dict[str, int] = {}
    for i, item in enumerate(req.items):
        if len(errors) >= 50:
            break
        too_long = question_error(item.question, settings, ("body", "items", i, "question"))
        if too_long is not None:
            errors.append(too_long)
        elif not item.question.strip():
            bad(("items", i, "question"), "blank_text", "the question is blank")
        item_id = item.id if item.id is not None else str(i)
        if item_id in seen:
            bad(
                ("items", i, "id"),
                "duplicate_id",
                f"id {item_id!r} is also item {seen[item_id]}'s; ids are unique within a job",
            )
        seen.setdefault(item_id, i)
    given = req.options.engine_options()
    errors += option_errors(settings, given)
    if engine is not None and not errors:
        questions = [item.question for item in req.items]
        cap = given.get("max_tokens", settings.max_tokens)
        over = token_errors(engine, questions, req.strategy, cap)
        for i in sorted(over)[:50]:
            errors.append({**over[i], "loc": ("body", "items", i, "question")})
    return errors


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


class JobQueue:
    """Jobs in one Redis under `settings.job_prefix`; what the routes call."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.store = JobStore(redis, settings.job_prefix)

    @classmethod
    def from_settings(cls, settings: Settings) -> JobQueue | None:
        """None when `GLORE_REDIS_URL` is empty (the job routes then answer 503)."""
        if not settings.redis_url:
            return None
        return cls(connect(settings.redis_url), settings)

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def submit(
        self, req: JobRequest, idempotency_key: str | None, tenant: str = "open"
    ) -> tuple[str, bool]:
        """Queue a job; -> (job id, replayed). A replay with other items or options raises
        `IdempotencyConflictError`."""
        items = [
            {"id": item.id if item.id is not None else str(i), "question": item.question}
            for i, item in enumerate(req.items)
        ]
        options = {"strategy": req.strategy, **req.options.engine_options()}
        new_id = new_job_id()
        job_id = await self.store.create(
            new_id,
            items,
            options,
            ttl_s=self.settings.result_ttl_s,
            idempotency_key=idempotency_key,
            tenant=tenant,
        )
        replayed = job_id != new_id
        if replayed:
            first = await self.store.record(job_id)
            if first is not None and first.fingerprint != fingerprint(items, options):
                raise IdempotencyConflictError(job_id)
        QUEUE_DEPTH.set(await self.store.queue_depth())
        return job_id, replayed

    async def record(self, job_id: str) -> Record | None:
        if not JOB_ID.match(job_id):
            return None
        return await self.store.record(job_id)

    async def status(self, record: Record, results_url: str) -> JobStatus:
        errors: list[FailedItem] = []
        if record.failed:
            indices = await self.store.error_indices(record.job_id, ERRORS_SHOWN)
            for line in await self.store.result_lines(record.job_id, indices):
                data = json.loads(line)
                errors.append(
                    FailedItem(
                        index=data["index"],
                        id=data["id"],
                        error=ItemError(**data["error"]),
                        attempts=data["attempts"],
                    )
                )
        return JobStatus(
            job_id=record.job_id,
            state=record.state,
            progress=JobProgress(
                done=record.done, ok=record.ok, failed=record.failed, total=record.total
            ),
            created_at=datetime.fromtimestamp(record.created_ms / 1000, tz=UTC),
            started_at=_time(record.started_ms),
            finished_at=_time(record.finished_ms),
            cancel_requested=record.cancel_requested,
            error=record.error,
            errors=errors,
            strategy=record.options.get("strategy", "glore"),
            options=SolveOptions(**{k: v for k, v in record.options.items() if k != "strategy"}),
            attempts=record.claims,
            results_url=results_url,
        )

    async def cancel(self, job_id: str) -> str | None:
        """-> 'cancelling' (a worker will stop), the terminal state, or None if unknown."""
        if not JOB_ID.match(job_id):
            return None
        return await self.store.cancel(job_id, ttl_s=self.settings.result_ttl_s)

    async def page(self, record: Record, offset: int, limit: int) -> list[str]:
        """Result lines of items [offset, offset+limit) that have one, by index."""
        end = min(record.total, offset + limit)
        return await self.store.result_lines(record.job_id, list(range(offset, end)))

    async def stream(self, record: Record, offset: int, limit: int | None) -> AsyncIterator[str]:
        end = record.total if limit is None else min(record.total, offset + limit)
        for start in range(offset, end, STREAM_CHUNK):
            indices = list(range(start, min(end, start + STREAM_CHUNK)))
            for line in await self.store.result_lines(record.job_id, indices):
                yield line
