"""The Lua scripts behind ``LimitStore``: each check-and-take is one atomic script.

Times come from Redis (``TIME``), not from the caller, so gateways with skewed clocks share
one bucket fairly and a lease's expiry means the same to every replica.
"""

from __future__ import annotations

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# take_token(bucket, rate, burst): 0 when a token was taken, else ms until one is there.
_TAKE = """
local function take_token(bucket, rate, burst)
  local b = redis.call('HMGET', bucket, 'tokens', 'at')
  local tokens = tonumber(b[1]) or burst
  local at = tonumber(b[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
  if tokens < 1 then
    return math.ceil((1 - tokens) * 1000 / rate)
  end
  redis.call('HSET', bucket, 'tokens', tostring(tokens - 1), 'at', now)
  -- A full bucket and a missing one are the same: let idle users' buckets go.
  redis.call('PEXPIRE', bucket, math.ceil(burst * 1000 / rate) + 1000)
  return 0
end
"""

# admit(in-flight set, job id, limit, ttl ms): {1, count} when the job was admitted (or
# already was), else {0, count}. Below the limit ZADD NX both adds and tells whether the job
# was counted already (then nothing changes, its expiry included): three calls, not four.
_ADMIT = """
local function admit(set, job_id, limit, ttl)
  local n = redis.call('ZCARD', set)
  if n < limit then
    if redis.call('ZADD', set, 'NX', now, job_id) == 0 then return {1, n} end
    redis.call('PEXPIRE', set, ttl)
    return {1, n + 1}
  end
  if redis.call('ZSCORE', set, job_id) then return {1, n} end
  return {0, n}
end
"""

# KEYS: bucket. ARGV: rate (tokens per second), burst.
# Returns {1, 0} when a token was taken, else {0, ms until one is there}.
TAKE_TOKEN = (
    _NOW
    + _TAKE
    + """
local wait = take_token(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
if wait > 0 then return {0, wait} end
return {1, 0}
"""
)

# KEYS: in-flight set. ARGV: job id, limit, ttl (ms).
# Returns {1, count} when the job was admitted (or already was), else {0, count}.
ADMIT_JOB = _NOW + _ADMIT + "return admit(KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3])\n"

# A submit's checks in one call, in the order they were made one call each: its
# Idempotency-Key is reserved (unless another request holds it: then nothing else happens),
# then a token taken, then (only with one) the job counted in flight. A rate refusal frees the
# reservation it just made; an in-flight refusal keeps it (the caller reconciles and tries the
# admission again, then frees it if still refused).
# KEYS: bucket, in-flight set, idempotency key.
# ARGV: rate ('' for no limits: an admin's reservation alone), burst, job id, limit, ttl (ms),
#       reservation ('<job id> <digest>', '' for none), its ttl (s).
# Returns {2, the holder's reservation}, {0, ms until a token is there}, or
# {1, admitted (1 or 0), count in flight}.
ADMIT_SUBMISSION = (
    _NOW
    + _TAKE
    + _ADMIT
    + """
if ARGV[6] ~= '' then
  -- SET NX GET (Redis 7): the value before, false if this call set it. Our own value: a
  -- retried call whose first SET landed (e.g. across a failover).
  local holder = redis.call('SET', KEYS[3], ARGV[6], 'NX', 'GET', 'EX', ARGV[7])
  if holder and holder ~= ARGV[6] then return {2, holder} end
end
if ARGV[1] == '' then return {1, 1, 0} end
local wait = take_token(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
if wait > 0 then
  if ARGV[6] ~= '' then redis.call('DEL', KEYS[3]) end
  return {0, wait}
end
local a = admit(KEYS[2], ARGV[3], tonumber(ARGV[4]), ARGV[5])
return {1, a[1], a[2]}
"""
)

# KEYS: connection set. ARGV: connection id, limit (0: renew without a limit), lease (ms).
# Expired leases (their gateway died or stalled) are dropped first.
# Returns 1 when the connection holds a lease now, else 0.
LEASE_CONNECTION = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[2])
if limit > 0 and not redis.call('ZSCORE', KEYS[1], ARGV[1])
    and redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
)

# KEYS: kept exports. ARGV: job id, bytes, quota, expiry (ms from now; 0: only check).
# Members are "<job id>|<bytes>" scored by expiry; expired ones are dropped first.
# Checking refuses once the kept bytes reach the quota; recording refuses a file that would
# take them past it. Returns {1 or 0, bytes kept before this export}.
KEEP_EXPORT = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local kept = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local id, size = string.match(member, '^(.*)|(%d+)$')
  if id ~= ARGV[1] then kept = kept + tonumber(size) end
end
local size = tonumber(ARGV[2])
local quota = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
if ttl == 0 then
  if kept >= quota then return {0, kept} end
  return {1, kept}
end
if kept + size > quota then return {0, kept} end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1] .. '|' .. ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return {1, kept}
"""
)
