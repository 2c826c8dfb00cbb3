"""``conveyor stats daily`` against a real gateway process, on statistics cached in Redis."""

from __future__ import annotations

import asyncio
import datetime as dt

from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.runtime.statistics_store import StatisticsStore
from tests.cli._ops import Stack, cli
from tests.runtime.test_statistics_store import statistics

DAY = dt.date(2026, 9, 14)


async def test_daily_statistics_are_shown_for_the_newest_a_given_and_a_range_of_days(
    stack: Stack, redis: Redis
) -> None:
    store = StatisticsStore(redis, Keys(stack.namespace))
    older, newer = statistics(DAY, awards=1234), statistics(DAY + dt.timedelta(days=2), awards=99)
    for stats in (older, newer):
        await store.save(stats, ttl_seconds=600)
    env = stack.env("any-user")  # no role: the statistics are public data
    newest, one, days, raw_range = await asyncio.gather(
        cli("stats", "daily", "--json", env=env),
        cli("stats", "daily", "--date", "2026-09-14", env=env),
        cli("stats", "daily", "--from", "2026-09-13", "--to", "2026-09-16", env=env),
        cli("stats", "daily", "--from", "2026-09-13", "--to", "2026-09-16", "--json", env=env),
    )
    assert newest.code == 0, newest.err
    assert newest.json()["day"] == "2026-09-16" and newest.json()["awards"] == 99
    assert one.code == 0, one.err
    assert "Daily statistics for 2026-09-14" in one.out
    assert "1,234" in one.out and "1,000.50" in one.out and "-12.50" in one.out
    assert days.code == 0, days.err
    assert "2026-09-14" in days.out and "2026-09-16" in days.out
    assert "no statistics cached for: 2026-09-13, 2026-09-15" in days.out
    body = raw_range.json()
    assert [d["day"] for d in body["days"]] == ["2026-09-14", "2026-09-16"]
    assert body["missing"] == ["2026-09-13", "2026-09-15"]


async def test_a_missing_day_or_a_bad_range_is_one_line_naming_the_problem(stack: Stack) -> None:
    env = stack.env("any-user")
    missing, bad_date, too_long, reversed_range = await asyncio.gather(
        cli("stats", "daily", "--date", "2001-01-01", env=env),
        cli("stats", "daily", "--date", "14/09/2026", env=env),
        cli("stats", "daily", "--from", "2026-01-01", "--to", "2026-03-01", env=env),
        cli("stats", "daily", "--from", "2026-01-02", "--to", "2026-01-01", env=env),
    )
    assert missing.code == 1 and "HTTP 404" in missing.err and "2001-01-01" in missing.err
    assert bad_date.code == 1 and "HTTP 400" in bad_date.err and "field date" in bad_date.err
    assert too_long.code == 1 and "31 days" in too_long.err and "field to" in too_long.err
    assert reversed_range.code == 1 and "field to" in reversed_range.err
    for result in (missing, bad_date, too_long, reversed_range):
        assert result.err.startswith("conveyor stats daily: ") and result.err.count("\n") == 1
