"""The job store: Redis key layout, the job record, and the atomic steps on it.

Keys (`P` is `GLORE_JOB_PREFIX`, `ID` a job id, 32 hex digits):

| key | type | holds |
|---|---|---|
| `P:queue` | list | ids of jobs waiting for a worker (LPUSH new, RPOP oldest, RPUSH resumed) |
| `P:leases` | sorted set | ids of claimed jobs, scored by their lease deadline (Redis clock, ms) |
| `P:job:ID` | hash | the job record (`RECORD_FIELDS`) |
| `P:job:ID:items` | list | the items, JSON `{"id", "question"}`, in submission order |
| `P:job:ID:results` | hash | item index -> its result line (JSON); written once per index |
| `P:job:ID:errors` | list | indices of failed items, in the order they failed |
| `P:idem:SHA` | string | job id of an idempotency key (SHA-256 of the key) |

The changes to these keys are atomic Lua scripts (`service.jobs.scripts`, which states the
invariants they keep). Every job key expires `GLORE_RESULT_TTL_S` after the job's last write.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from service.jobs import scripts
from service.jobs.protocol import JOB_STATES, JobState

JOB_ID = re.compile(r"^[0-9a-f]{32}$")

RECORD_FIELDS = (
    "state",  # queued | running | done | failed | cancelled
    "total",  # number of items
    "ok",  # items with a result
    "failed",  # items recorded failed
    "created_ms",  # Redis clock, ms
    "started_ms",  # first claim
    "finished_ms",  # reached a terminal state
    "updated_ms",  # last write
    "options",  # JSON of the request's options
    "fingerprint",  # SHA-256 of items + options, to check idempotent replays
    "idem",  # the idempotency key's Redis key, when one was given
    "owner",  # fencing token of the lease holder; absent while not claimed
    "claims",  # times a worker took the job
    "takeovers",  # times the job was taken from a silent worker
    "cancel_requested",  # "1" once DELETE was called
    "error",  # why the job failed (job-level)
)


def new_job_id() -> str:
    return uuid.uuid4().hex


def new_token(worker_id: str) -> str:
    """A fencing token: fresh for every claim, so a re-claim never matches a stale holder."""
    return f"{worker_id}:{uuid.uuid4().hex}"


def fingerprint(items: list[dict[str, str]], options: dict[str, Any]) -> str:
    body = json.dumps({"items": items, "options": options}, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Record:
    """A job record as stored; times are ms on the Redis clock."""

    job_id: str
    state: JobState
    total: int
    ok: int
    failed: int
    created_ms: int
    started_ms: int | None
    finished_ms: int | None
    options: dict[str, Any]
    fingerprint: str
    claims: int
    takeovers: int
    cancel_requested: bool
    error: str | None
    tenant: str = "open"
    """Who submitted the job: a fingerprint of its API key, or "open" without auth."""

    @property
    def done(self) -> int:
        return self.ok + self.failed

    @classmethod
    def parse(cls, job_id: str, raw: dict[str, str]) -> Record:
        def opt_int(name: str) -> int | None:
            value = raw.get(name)
            return int(value) if value else None

        state = raw.get("state", "queued")
        return cls(
            job_id=job_id,
            state=next((s for s in JOB_STATES if s == state), "failed"),
            total=int(raw.get("total", 0)),
            ok=int(raw.get("ok", 0)),
            failed=int(raw.get("failed", 0)),
            created_ms=int(raw.get("created_ms", 0)),
            started_ms=opt_int("started_ms"),
            finished_ms=opt_int("finished_ms"),
            options=json.loads(raw.get("options", "{}")),
            fingerprint=raw.get("fingerprint", ""),
            claims=int(raw.get("claims", 0)),
            takeovers=int(raw.get("takeovers", 0)),
            cancel_requested=raw.get("cancel_requested") == "1",
            error=raw.get("error") or None,
            tenant=raw.get("tenant", "open"),
        )


@dataclass(frozen=True)
class Claim:
    job_id: str
    token: str
    claims: int
    started_ms: int
    now_ms: int


@dataclass(frozen=True)
class Beat:
    held: bool
    cancel: bool
    now_ms: int


class JobStore:
    """The job keys under one prefix, and the scripts that change them."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.queue_key = f"{prefix}:queue"
        self.leases_key = f"{prefix}:leases"
        r = redis
        self._enqueue_once = r.register_script(scripts.ENQUEUE_ONCE)
        self._claim = r.register_script(scripts.CLAIM)
        self._heartbeat = r.register_script(scripts.HEARTBEAT)
        self._write = r.register_script(scripts.WRITE)
        self._finish = r.register_script(scripts.FINISH)
        self._release = r.register_script(scripts.RELEASE)
        self._reap = r.register_script(scripts.REAP)
        self._cancel = r.register_script(scripts.CANCEL)

    # keys
    def record_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def items_key(self, job_id: str) -> str:
        return f"{self.record_key(job_id)}:items"

    def results_key(self, job_id: str) -> str:
        return f"{self.record_key(job_id)}:results"

    def errors_key(self, job_id: str) -> str:
        return f"{self.record_key(job_id)}:errors"

    def idem_key(self, idempotency_key: str) -> str:
        return f"{self.prefix}:idem:{hashlib.sha256(idempotency_key.encode()).hexdigest()}"

    # the API's side
    async def create(
        self,
        job_id: str,
        items: list[dict[str, str]],
        options: dict[str, Any],
        *,
        ttl_s: int,
        idempotency_key: str | None,
        tenant: str = "open",
    ) -> str:
        """Write a job and queue it; returns its id, or the id of the job that an earlier
        submission with the same idempotency key created (then nothing new is queued).
        `tenant` (who submitted it) is the only one who may read or cancel it."""
        rec = self.record_key(job_id)
        now_ms = await self.now_ms()
        record: dict[FieldT, EncodableT] = {
            "state": "queued",
            "total": len(items),
            "ok": 0,
            "failed": 0,
            "created_ms": now_ms,
            "updated_ms": now_ms,
            "options": json.dumps(options, sort_keys=True),
            "fingerprint": fingerprint(items, options),
            "claims": 0,
            "takeovers": 0,
            "tenant": tenant,
        }
        idem = self.idem_key(idempotency_key) if idempotency_key is not None else None
        if idem is not None:
            record["idem"] = idem
            first = await self.redis.get(idem)  # a replay needs no writes (the script decides)
            if first is not None and await self.redis.exists(self.record_key(str(first))):
                return str(first)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(rec, mapping=record)
            for start in range(0, len(items), 1000):
                chunk = items[start : start + 1000]
                pipe.rpush(self.items_key(job_id), *(json.dumps(i) for i in chunk))
            pipe.expire(rec, ttl_s)
            pipe.expire(self.items_key(job_id), ttl_s)
            if idem is None:
                pipe.lpush(self.queue_key, job_id)
            await pipe.execute()
        if idem is None:
            return job_id
        winner = str(
            await self._enqueue_once(keys=[idem, self.queue_key], args=[self.prefix, job_id, ttl_s])
        )
        if winner != job_id:  # a replay: drop what this call wrote
            await self.redis.delete(rec, self.items_key(job_id))
        return winner

    async def record(self, job_id: str) -> Record | None:
        raw = await self.redis.hgetall(self.record_key(job_id))
        return Record.parse(job_id, {str(k): str(v) for k, v in raw.items()}) if raw else None

    async def cancel(self, job_id: str, *, ttl_s: int) -> str | None:
        out = await self._cancel(
            keys=[self.record_key(job_id), self.queue_key], args=[job_id, ttl_s]
        )
        return None if out is None else str(out)

    async def error_indices(self, job_id: str, count: int) -> list[int]:
        return [int(i) for i in await self.redis.lrange(self.errors_key(job_id), 0, count - 1)]

    async def result_lines(self, job_id: str, indices: list[int]) -> list[str]:
        """The result lines of those item indices that have one, in the given order."""
        if not indices:
            return []
        lines = await self.redis.hmget(self.results_key(job_id), [str(i) for i in indices])
        return [str(line) for line in lines if line is not None]

    async def queue_depth(self) -> int:
        return int(await self.redis.llen(self.queue_key))

    async def now_ms(self) -> int:
        seconds, micros = await self.redis.time()
        return int(seconds) * 1000 + int(micros) // 1000

    # the worker's side
    async def claim(self, token: str, lease_ms: int) -> Claim | None:
        out = await self._claim(
            keys=[self.queue_key, self.leases_key], args=[self.prefix, token, lease_ms]
        )
        if not out:
            return None
        job_id, claims, started, now = out
        return Claim(str(job_id), token, int(claims), int(started), int(now))

    async def heartbeat(self, job_id: str, token: str, lease_ms: int) -> Beat:
        held, cancel, now = await self._heartbeat(
            keys=[self.record_key(job_id), self.leases_key], args=[job_id, token, lease_ms]
        )
        return Beat(bool(int(held)), bool(int(cancel)), int(now))

    async def items(self, job_id: str) -> list[dict[str, str]]:
        return [json.loads(i) for i in await self.redis.lrange(self.items_key(job_id), 0, -1)]

    async def recorded_indices(self, job_id: str) -> set[int]:
        return {int(i) for i in await self.redis.hkeys(self.results_key(job_id))}

    async def write(
        self, job_id: str, token: str, lines: list[tuple[int, str, str]], *, ttl_s: int
    ) -> int:
        """Record (index, 'ok'|'failed', line) results once each; -1 when the lease is lost."""
        args: list[str | int] = [token, ttl_s]
        for index, status, line in lines:
            args += [index, status, line]
        return int(await self._write(keys=[self.record_key(job_id)], args=args))

    async def finish(
        self, job_id: str, token: str, state: JobState, *, error: str | None, ttl_s: int
    ) -> bool:
        out = await self._finish(
            keys=[self.record_key(job_id), self.leases_key],
            args=[job_id, token, state, error or "", ttl_s],
        )
        return bool(int(out))

    async def release(self, job_id: str, token: str) -> bool:
        out = await self._release(
            keys=[self.record_key(job_id), self.leases_key, self.queue_key], args=[job_id, token]
        )
        return bool(int(out))

    async def reap(self, *, max_takeovers: int, ttl_s: int) -> list[tuple[str, str]]:
        """Take back the jobs whose lease ran out: -> (job id, queued|cancelled|failed)."""
        out = await self._reap(
            keys=[self.leases_key, self.queue_key], args=[self.prefix, max_takeovers, ttl_s]
        )
        flat = [str(x) for x in out]
        return list(zip(flat[::2], flat[1::2], strict=True))


def connect(url: str, *, timeout_s: float = 5.0) -> aioredis.Redis:
    """A client that fails fast when Redis is down, so routes can answer 503 at once."""
    client: aioredis.Redis = aioredis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=timeout_s,
        socket_timeout=timeout_s,
        health_check_interval=30,
    )
    return client


def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key under `prefix:` (a benchmark's or a test's own namespace), through a
    blocking client; -> how many keys went."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()
