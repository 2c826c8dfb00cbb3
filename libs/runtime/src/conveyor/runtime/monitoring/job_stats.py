"""Job counts by type and state over a time window, read from the job store's time index.

Jobs are counted by when they were created (the ``all_jobs`` sorted set) and the state their
record holds now. One call counts at most ``MAX_JOBS`` of the newest jobs in the window and
says so when the window held more.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.contracts.monitoring import JobStats, StatsBucket, TypeStats

MAX_JOBS = 200_000
BUCKETS = 12
_SLICE = 2000
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WINDOW = re.compile(r"^([1-9][0-9]{0,5})([smhd])$")
MAX_WINDOW_SECONDS = 31 * 86400


class WindowError(ValueError):
    """A window that is not ``<number><s|m|h|d>`` between a minute and 31 days."""


def parse_window(text: str) -> int:
    """``"15m"`` -> 900 seconds."""
    match = _WINDOW.match(text.strip())
    if match is None:
        raise WindowError("window must look like 15m, 1h, 24h or 7d")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if not 60 <= seconds <= MAX_WINDOW_SECONDS:
        raise WindowError("window must be between 1m and 31d")
    return seconds


# Counting happens in Redis, a slice of the index per call: shipping every record's fields to
# Python cost ~40 us per job; this returns one row per (type, state, bucket). It reads job
# hashes it is not given as KEYS: fine on one Redis (and replicas), not on Redis Cluster.
# KEYS: all_jobs. ARGV: job key prefix, since_ms, until_ms, offset, count, bucket_ms, buckets.
_COUNT_SLICE = """
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


async def job_stats(redis: Redis, keys: Keys, *, window: str, now: dt.datetime) -> JobStats:
    seconds = parse_window(window)
    until_ms = int(now.timestamp() * 1000)
    since_ms = until_ms - seconds * 1000
    bucket_ms = max(1000, seconds * 1000 // BUCKETS)
    by_type: dict[str, dict[str, int]] = {}
    buckets: dict[int, dict[str, dict[str, int]]] = {}
    script = redis.register_script(_COUNT_SLICE)
    prefix = keys.job("")
    offset = 0
    truncated = False
    while True:
        # Each slice is consistent on its own; records written between slices may shift the
        # offsets by a few, which is noise for a dashboard count.
        result: Any = await script(
            keys=[keys.all_jobs],
            args=[prefix, since_ms, until_ms, offset, _SLICE, bucket_ms, BUCKETS],
        )
        scanned, flat = int(result[0]), result[1]
        for key, n in zip(flat[::2], flat[1::2], strict=True):
            t, state, bucket = key.decode().rsplit(" ", 2)
            counts = by_type.setdefault(t, {})
            counts[state] = counts.get(state, 0) + int(n)
            cell = buckets.setdefault(int(bucket), {}).setdefault(t, {})
            cell[state] = cell.get(state, 0) + int(n)
        offset += scanned
        if scanned < _SLICE:
            break
        if offset >= MAX_JOBS:
            truncated = await redis.zcount(keys.all_jobs, since_ms, until_ms) > offset
            break
    since = dt.datetime.fromtimestamp(since_ms / 1000, dt.UTC)
    until = dt.datetime.fromtimestamp(until_ms / 1000, dt.UTC)
    return JobStats(
        window=window.strip(),
        window_seconds=seconds,
        since=since,
        until=until,
        total=sum(sum(c.values()) for c in by_type.values()),
        by_type=[
            TypeStats(job_type=t, total=sum(c.values()), by_state=dict(sorted(c.items())))
            for t, c in sorted(by_type.items())
        ],
        bucket_seconds=bucket_ms // 1000,
        buckets=[
            StatsBucket(
                start=since + dt.timedelta(milliseconds=i * bucket_ms),
                counts=buckets.get(i, {}),
            )
            for i in range(BUCKETS)
        ],
        truncated=truncated,
    )
