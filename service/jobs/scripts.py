"""The Lua scripts of the job store (`service.jobs.store`, which lays out the keys): every
change to a job is one script, so each runs atomically on the Redis server.

Invariants they keep:

- A live job (`queued` or `running`) is in exactly one of `P:queue` and `P:leases`.
- Only the lease holder writes: a claim stores a fresh random `owner` token in the record;
  results, progress and the final state are written only by a script that first checks
  that token (fencing). A worker whose lease was reaped finds its token gone and stops.
- A result is written with HSETNX on its item index, and the progress counters are
  incremented in the same script only when HSETNX added it: a job re-run after a crash
  never duplicates a result, and `ok + failed` always equals the number of results.
- Deadlines use the Redis server's clock (`TIME`), so worker clocks never disagree.
"""

NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

EXPIRE_JOB = """
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
ENQUEUE_ONCE = """
local cur = redis.call('GET', KEYS[1])
if cur and redis.call('EXISTS', ARGV[1] .. ':job:' .. cur) == 1 then return cur end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
redis.call('LPUSH', KEYS[2], ARGV[2])
return ARGV[2]
"""

# KEYS: queue, leases. ARGV: prefix, token, lease ms.
# Pops the oldest queued job, skipping ids whose job expired or was cancelled meanwhile.
CLAIM = (
    NOW
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
HEARTBEAT = (
    NOW
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
WRITE = (
    NOW
    + EXPIRE_JOB
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
FINISH = (
    NOW
    + EXPIRE_JOB
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
RELEASE = (
    NOW
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
REAP = (
    NOW
    + EXPIRE_JOB
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
CANCEL = (
    NOW
    + EXPIRE_JOB
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
