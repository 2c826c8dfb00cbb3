"""The Lua scripts that change job records: each one checks, writes and records its event at once.

A state change and its event can never diverge, and of two racing transitions (cancel vs
finish) exactly one wins, because each script runs atomically in Redis. The KEYS and ARGV of
each are listed above it; ``JobStore`` builds them (see ``layout`` for the keys).

Every job runs these, so each Redis call in them is paid per job (``tests/runtime/jobstore/
test_redis_calls.py`` pins how many): a script reads the record once (``HMGET``), writes it
once (one ``HSET``, ``last_seq`` included), reads the owner stream's newest entry once however
many events it appends, and sets each key's expiry once.
"""

from __future__ import annotations

# Shared by the scripts that record events. An event's seq is the record's ``last_seq`` + 1,
# which the script writes in its one HSET of the record (no HINCRBY per event). The event (its
# JSON split around the seq, ``prefix .. seq .. suffix``) goes to the job's stream under entry
# id ``0-<seq>`` (so ``XRANGE`` by seq is direct) and to the owner's stream under a time-based
# id (the cursor of "all my jobs"). Each event's ``prev`` must be exactly the owner stream's
# entry before it (the WebSocket's gap detection): read once per script with ``owner_last``;
# for a second event in the same script it is the first one's cursor (nothing can come between
# inside a script). The caller sets the owner stream's expiry once.
_EVENTS = """
local function owner_last(owner_events)
  local last = redis.call('XREVRANGE', owner_events, '+', '-', 'COUNT', 1)
  if #last > 0 then return last[1][1] end
  return '0-0'
end

local function append_event(job_events, owner_events, seq, prefix, suffix, hmax, omax, job_id)
  local body = prefix .. seq .. suffix
  redis.call('XADD', job_events, 'MAXLEN', '~', hmax, '0-' .. seq, 'e', body)
  return redis.call('XADD', owner_events, 'MAXLEN', '~', omax, '*', 'j', job_id, 'e', body)
end
"""

# Shared by the scripts that may create a record (``creation_keys``): after its events are
# appended (an EXPIRE of a stream not yet created would do nothing), list the job by creation
# time (the owner's and everyone's index), count it active, and keep the record, its history
# and the owner stream for the retention.
_INDEX_NEW = """
local function index_new(score, job_id, ttl)
  redis.call('ZADD', KEYS[3], score, job_id)
  redis.call('ZADD', KEYS[4], score, job_id)
  redis.call('SADD', KEYS[5], job_id)
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[6], ttl)
end
"""

CREATE = (
    _EVENTS
    + _INDEX_NEW
    + """
-- The existence check is the read a caller that lost the race to a worker wants anyway.
local existing = redis.call('HGETALL', KEYS[1])
if #existing > 0 then return {0, existing} end
redis.call('HSET', KEYS[1], 'last_seq', 1, unpack(ARGV, 8))
local prev = owner_last(KEYS[6])
local cursor = append_event(KEYS[2], KEYS[6], 1, ARGV[5], ARGV[6], ARGV[3], ARGV[4], ARGV[7])
index_new(ARGV[1], ARGV[7], ARGV[2])
return {1, 'queued', 1, cursor, prev}
"""
)
"""Create a queued job's record, indexes and ``job.queued`` event, unless the record exists.

KEYS: job, job_events, owner_jobs, all_jobs, active_jobs, owner_events
ARGV: score_ms, retention_s, hmax, omax, prefix, suffix, job_id, field, value, ...
(the fields leave out ``last_seq``: the script numbers the events.)
Returns {1, 'queued', seq, cursor, prev_cursor}, or {0, HGETALL of the existing record}.
"""

TRANSITION = (
    _EVENTS
    + """
local f = redis.call('HMGET', KEYS[1], 'state', 'last_seq')
local state = f[1]
if not state then return {-1, ''} end
if not string.find(ARGV[1], ' ' .. state .. ' ', 1, true) then return {0, state} end
local seq = tonumber(f[2] or '0') + 1
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'last_seq', seq, unpack(ARGV, 10))
local prev = owner_last(KEYS[4])
local cursor = append_event(KEYS[2], KEYS[4], seq, ARGV[5], ARGV[6], ARGV[3], ARGV[4], ARGV[7])
redis.call('EXPIRE', KEYS[4], ARGV[8])
if ARGV[9] == '1' then
  redis.call('SREM', KEYS[3], ARGV[7])
  redis.call('ZREM', KEYS[5], ARGV[7])
  -- Retention counts from the outcome: the record and its history live on from here.
  redis.call('EXPIRE', KEYS[1], ARGV[8])
  redis.call('EXPIRE', KEYS[2], ARGV[8])
end
return {1, state, seq, cursor, prev}
"""
)
"""Move a job to a new state if its current one is allowed; a final state leaves the active set
and frees the owner's in-flight slot (the LimitStore's key) in the same step.

KEYS: job, job_events, active_jobs, owner_events, jobs_in_flight(owner)
ARGV: allowed (" a b "), new_state, hmax, omax, prefix, suffix, job_id, retention_s,
      final ('1' or '0'), field, value, ... (neither ``state`` nor ``last_seq``: the script
      writes those, before the fields in the same HSET)
Returns {1, previous_state, seq, cursor, prev_cursor}; {0, state} if the state is not allowed;
{-1, ''} if there is no record.
"""

START = (
    _EVENTS
    + _INDEX_NEW
    + """
-- Everything this script may need of the record, in one read.
local f = redis.call('HMGET', KEYS[1], 'state', 'created_at', 'attempt', 'worker', 'crashes',
                     'idempotency_key', 'dead_lettered', 'last_seq')
local state = f[1]
local n = tonumber(ARGV[12])
if not state then
  local claim = ARGV[16]
  if claim ~= '' and not redis.call('SET', claim, ARGV[7] .. ' amqp', 'NX', 'EX', ARGV[17]) then
    local holder = string.match(redis.call('GET', claim) or '', '^%S+')
    if holder and holder ~= ARGV[7] then return {5, holder, 0} end
  end
  -- Created and started at once: one HSET writes the record as CREATE and then a start would
  -- leave it (the start fields come after the create fields, and the later value of a field
  -- wins), with job.queued as seq 1 and job.started as seq 2.
  redis.call('HSET', KEYS[1], 'last_seq', 2, unpack(ARGV, 18))
  local prev = owner_last(KEYS[6])
  local queued = append_event(KEYS[2], KEYS[6], 1, ARGV[5], ARGV[6], ARGV[3], ARGV[4], ARGV[7])
  local started = append_event(KEYS[2], KEYS[6], 2, ARGV[10], ARGV[11], ARGV[3], ARGV[4], ARGV[7])
  index_new(ARGV[1], ARGV[7], ARGV[2])
  return {1, 'queued', 0, 2, started, queued, queued, prev}
end
if f[2] ~= ARGV[15] then
  -- Another envelope under this id: redeliveries and retries keep the job's creation time.
  return {6, state, 0, f[6] or ''}
end
if tonumber(ARGV[8]) < tonumber(f[3] or '1') then return {2, state, 0} end
if state == 'succeeded' or state == 'failed' or state == 'cancelled' then
  return {0, state, 0, f[7] or ''}
end
local seq = tonumber(f[8] or '0') + 1
local crashes = 0
if state == 'running' then
  -- Running on a worker whose heartbeat lives: a redelivery after that worker's connection
  -- dropped, not a crash. (The key is built here: its name is in the record.)
  local holder = f[4]
  if holder and holder ~= ARGV[13] and redis.call('EXISTS', ARGV[14] .. holder) == 1 then
    return {4, state, tonumber(f[5] or '0')}
  end
  crashes = tonumber(f[5] or '0') + 1
  if crashes >= tonumber(ARGV[9]) then
    redis.call('HSET', KEYS[1], 'crashes', crashes)
    return {3, state, crashes}
  end
  redis.call('HSET', KEYS[1], 'crashes', crashes, 'last_seq', seq, unpack(ARGV, 18 + n))
else
  redis.call('HSET', KEYS[1], 'last_seq', seq, unpack(ARGV, 18 + n))
end
local prev = owner_last(KEYS[6])
local cursor = append_event(KEYS[2], KEYS[6], seq, ARGV[10], ARGV[11], ARGV[3], ARGV[4], ARGV[7])
redis.call('EXPIRE', KEYS[6], ARGV[2])
return {1, state, crashes, seq, cursor, prev, '', ''}
"""
)
"""Mark an envelope's attempt running, creating the record first (as ``CREATE``) if missing.

KEYS: job, job_events, owner_jobs, all_jobs, active_jobs, owner_events
ARGV: score_ms, retention_s, hmax, omax, q_prefix, q_suffix, job_id,
      attempt, max_crashes, s_prefix, s_suffix, n_create_fields, worker, heartbeat key prefix,
      created_at, idempotency key name ('' if none), its ttl, create fields...,
      start fields... (``state`` running among them; neither set holds ``last_seq``)
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
