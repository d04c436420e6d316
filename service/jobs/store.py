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

Invariants, kept by doing every change in one Lua script:

- A live job (`queued` or `running`) is in exactly one of `P:queue` and `P:leases`.
- Only the lease holder writes: a claim stores a fresh random `owner` token in the record;
  results, progress and the final state are written only by a script that first checks
  that token (fencing). A worker whose lease was reaped finds its token gone and stops.
- A result is written with HSETNX on its item index, and the progress counters are
  incremented in the same script only when HSETNX added it: a job re-run after a crash
  never duplicates a result, and `ok + failed` always equals the number of results.
- Deadlines use the Redis server's clock (`TIME`), so worker clocks never disagree.

Every job key expires `GLORE_RESULT_TTL_S` after the job's last write.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

State = Literal["queued", "running", "done", "failed", "cancelled"]
STATES: tuple[State, ...] = ("queued", "running", "done", "failed", "cancelled")
TERMINAL: frozenset[str] = frozenset({"done", "failed", "cancelled"})
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

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_EXPIRE_JOB = """
local function expire_job(rec, ttl)
  for _, k in ipairs({rec, rec .. ':items', rec .. ':results', rec .. ':errors'}) do
    redis.call('EXPIRE', k, ttl)
  end
  local idem = redis.call('HGET', rec, 'idem')
  if idem then redis.call('EXPIRE', idem, ttl) end
end
"""

# KEYS: idem, queue. ARGV: prefix, job id, ttl.
# The idempotency key names the first job submitted under it while that job exists.
_ENQUEUE_ONCE = """
local cur = redis.call('GET', KEYS[1])
if cur and redis.call('EXISTS', ARGV[1] .. ':job:' .. cur) == 1 then return cur end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
redis.call('LPUSH', KEYS[2], ARGV[2])
return ARGV[2]
"""

# KEYS: queue, leases. ARGV: prefix, token, lease ms.
# Pops the oldest queued job, skipping ids whose job expired or was cancelled meanwhile.
_CLAIM = (
    _NOW
    + """
while true do
  local id = redis.call('RPOP', KEYS[1])
  if not id then return false end
  local rec = ARGV[1] .. ':job:' .. id
  if redis.call('HGET', rec, 'state') == 'queued' then
    local claims = redis.call('HINCRBY', rec, 'claims', 1)
    redis.call('HSET', rec, 'state', 'running', 'owner', ARGV[2], 'updated_ms', now)
    redis.call('HSETNX', rec, 'started_ms', now)
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), id)
    return {id, claims, redis.call('HGET', rec, 'started_ms'), now}
  end
end
"""
)

# KEYS: record, leases. ARGV: id, token, lease ms. -> {held, cancel requested, now}
_HEARTBEAT = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then return {0, 0, now} end
redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[3]), ARGV[1])
local cancel = 0
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then cancel = 1 end
return {1, cancel, now}
"""
)

# KEYS: record. ARGV: token, ttl, then (index, 'ok'|'failed', line) triples.
# -> results added, or -1 when the token no longer holds the job.
_WRITE = (
    _NOW
    + _EXPIRE_JOB
    + """
local rec = KEYS[1]
if redis.call('HGET', rec, 'owner') ~= ARGV[1] then return -1 end
local ok, failed = 0, 0
for i = 3, #ARGV, 3 do
  if redis.call('HSETNX', rec .. ':results', ARGV[i], ARGV[i + 2]) == 1 then
    if ARGV[i + 1] == 'ok' then
      ok = ok + 1
    else
      failed = failed + 1
      redis.call('RPUSH', rec .. ':errors', ARGV[i])
    end
  end
end
redis.call('HINCRBY', rec, 'ok', ok)
redis.call('HINCRBY', rec, 'failed', failed)
redis.call('HSET', rec, 'updated_ms', now)
expire_job(rec, tonumber(ARGV[2]))
return ok + failed
"""
)

# KEYS: record, leases. ARGV: id, token, final state, error ('' for none), ttl. -> 1 or 0
_FINISH = (
    _NOW
    + _EXPIRE_JOB
    + """
local rec = KEYS[1]
if redis.call('HGET', rec, 'owner') ~= ARGV[2] then return 0 end
redis.call('HSET', rec, 'state', ARGV[3], 'finished_ms', now, 'updated_ms', now)
if ARGV[4] ~= '' then redis.call('HSET', rec, 'error', ARGV[4]) end
redis.call('HDEL', rec, 'owner')
redis.call('ZREM', KEYS[2], ARGV[1])
expire_job(rec, tonumber(ARGV[5]))
return 1
"""
)

# KEYS: record, leases, queue. ARGV: id, token. Hands a job back (graceful shutdown).
_RELEASE = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], 'owner')
redis.call('HSET', KEYS[1], 'state', 'queued', 'updated_ms', now)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[1])
return 1
"""
)

# KEYS: leases, queue. ARGV: prefix, most takeovers, ttl.
# A job whose lease ran out goes back to the consuming end of the queue (it is resumed
# next), or ends `cancelled` when cancel was asked, or `failed` past the takeover limit.
# -> {id, outcome} pairs, outcome: queued | cancelled | failed
_REAP = (
    _NOW
    + _EXPIRE_JOB
    + """
local out = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100)
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local rec = ARGV[1] .. ':job:' .. id
  if redis.call('HGET', rec, 'state') == 'running' then
    redis.call('HDEL', rec, 'owner')
    local n = redis.call('HINCRBY', rec, 'takeovers', 1)
    local outcome = 'queued'
    if redis.call('HGET', rec, 'cancel_requested') == '1' then
      outcome = 'cancelled'
    elseif n > tonumber(ARGV[2]) then
      outcome = 'failed'
      redis.call('HSET', rec, 'error', 'its worker went silent ' .. n ..
        ' times (GLORE_JOB_MAX_TAKEOVERS=' .. ARGV[2] .. '); the job was given up')
    end
    if outcome == 'queued' then
      redis.call('HSET', rec, 'state', 'queued', 'updated_ms', now)
      redis.call('RPUSH', KEYS[2], id)
    else
      redis.call('HSET', rec, 'state', outcome, 'finished_ms', now, 'updated_ms', now)
      expire_job(rec, tonumber(ARGV[3]))
    end
    table.insert(out, id)
    table.insert(out, outcome)
  end
end
return out
"""
)

# KEYS: record, queue. ARGV: id, ttl. -> the state after the call ('cancelling' while a
# worker still holds the job), or nil for an unknown job.
_CANCEL = (
    _NOW
    + _EXPIRE_JOB
    + """
local rec = KEYS[1]
local state = redis.call('HGET', rec, 'state')
if not state then return false end
if state == 'queued' then
  redis.call('LREM', KEYS[2], 0, ARGV[1])
  redis.call('HSET', rec, 'state', 'cancelled', 'cancel_requested', '1',
    'finished_ms', now, 'updated_ms', now)
  expire_job(rec, tonumber(ARGV[2]))
  return 'cancelled'
elseif state == 'running' then
  redis.call('HSET', rec, 'cancel_requested', '1', 'updated_ms', now)
  return 'cancelling'
end
return state
"""
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
    state: State
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
            state=next((s for s in STATES if s == state), "failed"),
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
        self._enqueue_once = r.register_script(_ENQUEUE_ONCE)
        self._claim = r.register_script(_CLAIM)
        self._heartbeat = r.register_script(_HEARTBEAT)
        self._write = r.register_script(_WRITE)
        self._finish = r.register_script(_FINISH)
        self._release = r.register_script(_RELEASE)
        self._reap = r.register_script(_REAP)
        self._cancel = r.register_script(_CANCEL)

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
        self, job_id: str, token: str, state: State, *, error: str | None, ttl_s: int
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
