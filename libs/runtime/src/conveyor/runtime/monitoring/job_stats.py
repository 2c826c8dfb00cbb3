"""Job counts by type and state over a time window, read from the job store's time index.

Jobs are counted by when they were created and the state their record holds now, in Redis, a
slice of the index per call (``JobStore.count_created_slice``). One call counts at most
``MAX_JOBS`` of the newest jobs in the window and says so when the window held more.
"""

from __future__ import annotations

import datetime as dt
import re

from conveyor.contracts.monitoring import JobStats, StatsBucket, TypeStats
from conveyor.runtime.jobstore import JobStore

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


async def job_stats(store: JobStore, *, window: str, now: dt.datetime) -> JobStats:
    seconds = parse_window(window)
    until_ms = int(now.timestamp() * 1000)
    since_ms = until_ms - seconds * 1000
    bucket_ms = max(1000, seconds * 1000 // BUCKETS)
    by_type: dict[str, dict[str, int]] = {}
    buckets: dict[int, dict[str, dict[str, int]]] = {}
    offset = 0
    truncated = False
    while True:
        # Each slice is consistent on its own; records written between slices may shift the
        # offsets by a few, which is noise for a dashboard count.
        piece = await store.count_created_slice(
            since_ms,
            until_ms,
            offset=offset,
            count=_SLICE,
            bucket_ms=bucket_ms,
            buckets=BUCKETS,
        )
        for row in piece.counts:
            counts = by_type.setdefault(row.job_type, {})
            counts[row.state] = counts.get(row.state, 0) + row.count
            cell = buckets.setdefault(row.bucket, {}).setdefault(row.job_type, {})
            cell[row.state] = cell.get(row.state, 0) + row.count
        offset += piece.scanned
        if piece.scanned < _SLICE:
            break
        if offset >= MAX_JOBS:
            truncated = await store.count_created(since_ms, until_ms) > offset
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
