"""The Lua scripts that change job records: each one checks, writes and records its event at once.

A state change and its event can never diverge, and of two racing transitions (cancel vs
finish) exactly one wins, because each script runs atomically in Redis. The KEYS and ARGV of
each are listed above it; ``JobStore`` builds them (see ``layout`` for the keys).
"""

from __future__ import annotations

# Shared by the scripts that record an event: bumps the record's ``last_seq``, appends the event
# (its JSON split around the seq, ``prefix .. seq .. suffix``) to the job's stream under entry id
# ``0-<seq>`` (so ``XRANGE`` by seq is direct) and to the owner's stream under a time-based id
# (the cursor of "all my jobs"). Returns {seq, owner cursor, the owner entry before it or 0-0}.
_APPEND_EVENT = """
local function append_event(job_key, job_events, owner_events, prefix, suffix, hmax, omax,
                            job_id, ttl)
  local seq = redis.call('HINCRBY', job_key, 'last_seq', 1)
  local body = prefix .. seq .. suffix
  redis.call('XADD', job_events, 'MAXLEN', '~', hmax, '0-' .. seq, 'e', body)
  local last = redis.call('XREVRANGE', owner_events, '+', '-', 'COUNT', 1)
  local prev = '0-0'
  if #last > 0 then prev = last[1][1] end
  local cursor = redis.call('XADD', owner_events, 'MAXLEN', '~', omax, '*', 'j', job_id, 'e', body)
  redis.call('EXPIRE', owner_events, ttl)
  return {seq, cursor, prev}
end
"""

CREATE = (
    _APPEND_EVENT
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGET', KEYS[1], 'state'), redis.call('HGETALL', KEYS[1])}
end
redis.call('HSET', KEYS[1], unpack(ARGV, 8))
local r = append_event(KEYS[1], KEYS[2], KEYS[6],
    ARGV[5], ARGV[6], ARGV[3], ARGV[4], ARGV[7], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[1], ARGV[7])
redis.call('ZADD', KEYS[4], ARGV[1], ARGV[7])
redis.call('SADD', KEYS[5], ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return {1, 'queued', r[1], r[2], r[3]}
"""
)
"""Create a queued job's record, indexes and ``job.queued`` event, unless the record exists.

KEYS: job, job_events, owner_jobs, all_jobs, active_jobs, owner_events
ARGV: score_ms, retention_s, hmax, omax, prefix, suffix, job_id, field, value, ...
Returns {1, 'queued', seq, cursor, prev_cursor}, or {0, state, HGETALL of the existing record}.
"""

TRANSITION = (
    _APPEND_EVENT
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {-1, ''} end
if not string.find(ARGV[1], ' ' .. state .. ' ', 1, true) then return {0, state} end
if #ARGV > 9 then redis.call('HSET', KEYS[1], unpack(ARGV, 10)) end
redis.call('HSET', KEYS[1], 'state', ARGV[2])
local r = append_event(KEYS[1], KEYS[2], KEYS[4],
    ARGV[5], ARGV[6], ARGV[3], ARGV[4], ARGV[7], ARGV[8])
if ARGV[9] == '1' then
  redis.call('SREM', KEYS[3], ARGV[7])
  redis.call('ZREM', KEYS[5], ARGV[7])
  redis.call('EXPIRE', KEYS[1], ARGV[8])
  redis.call('EXPIRE', KEYS[2], ARGV[8])
end
return {1, state, r[1], r[2], r[3]}
"""
)
"""Move a job to a new state if its current one is allowed; a final state leaves the active set
and frees the owner's in-flight slot (the LimitStore's key) in the same step.

KEYS: job, job_events, active_jobs, owner_events, jobs_in_flight(owner)
ARGV: allowed (" a b "), new_state, hmax, omax, prefix, suffix, job_id, retention_s,
      final ('1' or '0'), field, value, ...
Returns {1, previous_state, seq, cursor, prev_cursor}; {0, state} if the state is not allowed;
{-1, ''} if there is no record.
"""

START = (
    _APPEND_EVENT
    + """
local state = redis.call('HGET', KEYS[1], 'state')
local n = tonumber(ARGV[12])
local c = {'', ''}
if state and redis.call('HGET', KEYS[1], 'created_at') ~= ARGV[15] then
  -- Another envelope under this id: redeliveries and retries keep the job's creation time.
  return {6, state, 0, redis.call('HGET', KEYS[1], 'idempotency_key') or ''}
end
if not state then
  local claim = ARGV[16]
  if claim ~= '' and not redis.call('SET', claim, ARGV[7] .. ' amqp', 'NX', 'EX', ARGV[17]) then
    local holder = string.match(redis.call('GET', claim) or '', '^%S+')
    if holder and holder ~= ARGV[7] then return {5, holder, 0} end
  end
  redis.call('HSET', KEYS[1], unpack(ARGV, 18, 17 + n))
  local q = append_event(KEYS[1], KEYS[2], KEYS[6],
    ARGV[5], ARGV[6], ARGV[3], ARGV[4], ARGV[7], ARGV[2])
  c = {q[2], q[3]}
  redis.call('ZADD', KEYS[3], ARGV[1], ARGV[7])
  redis.call('ZADD', KEYS[4], ARGV[1], ARGV[7])
  redis.call('SADD', KEYS[5], ARGV[7])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  state = 'queued'
end
if tonumber(ARGV[8]) < tonumber(redis.call('HGET', KEYS[1], 'attempt') or '1') then
  return {2, state, 0}
end
if state == 'succeeded' or state == 'failed' or state == 'cancelled' then
  return {0, state, 0, redis.call('HGET', KEYS[1], 'dead_lettered') or ''}
end
local crashes = 0
if state == 'running' then
  -- Running on a worker whose heartbeat lives: a redelivery after that worker's connection
  -- dropped, not a crash. (The key is built here: its name is in the record.)
  local holder = redis.call('HGET', KEYS[1], 'worker')
  if holder and holder ~= ARGV[13] and redis.call('EXISTS', ARGV[14] .. holder) == 1 then
    return {4, state, tonumber(redis.call('HGET', KEYS[1], 'crashes') or '0')}
  end
  crashes = redis.call('HINCRBY', KEYS[1], 'crashes', 1)
  if crashes >= tonumber(ARGV[9]) then return {3, state, crashes} end
end
redis.call('HSET', KEYS[1], 'state', 'running', unpack(ARGV, 18 + n))
local r = append_event(KEYS[1], KEYS[2], KEYS[6],
    ARGV[10], ARGV[11], ARGV[3], ARGV[4], ARGV[7], ARGV[2])
return {1, state, crashes, r[1], r[2], r[3], c[1], c[2]}
"""
)
"""Mark an envelope's attempt running, creating the record first (as ``CREATE``) if missing.

KEYS: job, job_events, owner_jobs, all_jobs, active_jobs, owner_events
ARGV: score_ms, retention_s, hmax, omax, q_prefix, q_suffix, job_id,
      attempt, max_crashes, s_prefix, s_suffix, n_create_fields, worker, heartbeat key prefix,
      created_at, idempotency key name ('' if none), its ttl, create fields..., start fields...
(Two key names travel in ARGV, built or chosen here; fine on a single Redis or Sentinel.)
Returns the ``StartStatus`` value first:
{1, previous_state, crashes, seq, cursor, prev_cursor, queued cursor, queued prev_cursor};
{0, state, 0, dead_lettered}; {2 | 3 | 4, state, crashes}; {5, holder job id, 0};
{6, state, 0, the existing record's idempotency key}.
"""

MARK_DEAD_LETTERED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'dead_lettered', '1')
return 1
"""
"""Note a failed job's dead letter as published; a purged record is not brought back bare.

KEYS: job. ARGV: none. Returns 1 if the record exists, else 0.
"""

# Counting in Redis, a slice of the index per call: shipping every record's fields to Python
# cost ~40 us per job; this returns one row per (type, state, bucket). It reads job hashes it is
# not given as KEYS: fine on one Redis (and replicas), not on Redis Cluster.
COUNT_CREATED = """
local rows = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[3], ARGV[2], 'WITHSCORES',
                        'LIMIT', ARGV[4], ARGV[5])
local since, width, last = tonumber(ARGV[2]), tonumber(ARGV[6]), tonumber(ARGV[7]) - 1
local counts, out = {}, {}
for i = 1, #rows, 2 do
  local f = redis.call('HMGET', ARGV[1] .. rows[i], 'job_type', 'state')
  if f[1] and f[2] then
    local b = math.min(last, math.floor((tonumber(rows[i + 1]) - since) / width))
    local k = f[1] .. ' ' .. f[2] .. ' ' .. b
    counts[k] = (counts[k] or 0) + 1
  end
end
for k, n in pairs(counts) do out[#out + 1] = k; out[#out + 1] = n end
return {#rows / 2, out}
"""
"""Count a slice of the jobs created in a window (newest first) by type, state and time bucket.

KEYS: all_jobs
ARGV: job key prefix, since_ms, until_ms, offset, count, bucket_ms, buckets
Returns {ids scanned, {"<type> <state> <bucket>", n, ...}}; records already gone are skipped.
"""
