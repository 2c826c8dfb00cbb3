"""The daily-statistics store (conveyor.runtime.statistics_store) on the real Redis."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from conveyor.contracts.jobs import utcnow
from conveyor.contracts.keys import Keys
from conveyor.contracts.statistics import DailyStatistics
from conveyor.runtime.statistics_store import StatisticsStore
from tests.support.namespace import delete_redis_keys, new_namespace

DAY = dt.date(2026, 11, 3)


def statistics(day: dt.date, awards: int = 10) -> DailyStatistics:
    return DailyStatistics(
        day=day,
        dataset_version="v1",
        computed_at=utcnow(),
        awards=awards,
        total_contract_amount=1000.5,
        average_contract_amount=100.05,
        median_contract_amount=90.0,
        contractors=3,
        procuring_entities=2,
        first_award_date=dt.date(2020, 1, 1),
        last_award_date=day,
        day_awards=1,
        day_contract_amount=-12.5,
    )


@pytest.fixture
async def store(redis: Redis) -> AsyncIterator[StatisticsStore]:
    # Its own namespace: "latest" is one key per namespace.
    ns = new_namespace()
    yield StatisticsStore(redis, Keys(ns))
    await delete_redis_keys(ns)


async def test_a_saved_day_reads_back_equal_and_expires(store: StatisticsStore) -> None:
    stats = statistics(DAY)
    key = await store.save(stats, ttl_seconds=600)
    assert key == store.keys.statistics("2026-11-03")
    assert await store.day(DAY) == stats
    assert await store.latest() == stats
    assert 0 < await store.redis.ttl(key) <= 600
    assert await store.redis.ttl(store.keys.latest_statistics) == -1


async def test_a_day_never_computed_reads_as_none(store: StatisticsStore) -> None:
    assert await store.day(DAY) is None
    assert await store.latest() is None


async def test_recomputing_an_older_day_leaves_the_newest_as_latest(store: StatisticsStore) -> None:
    newer, older = statistics(DAY), statistics(DAY - dt.timedelta(days=5))
    await store.save(newer, ttl_seconds=600)
    await store.save(older, ttl_seconds=600)
    assert await store.latest() == newer
    assert await store.day(older.day) == older
    recomputed = statistics(DAY, awards=11)  # the same day again, e.g. after an import
    await store.save(recomputed, ttl_seconds=600)
    assert await store.latest() == recomputed


async def test_a_range_lists_every_day_with_its_numbers_or_none(store: StatisticsStore) -> None:
    first, third = statistics(DAY), statistics(DAY + dt.timedelta(days=2))
    await store.save(first, ttl_seconds=600)
    await store.save(third, ttl_seconds=600)
    days = await store.days(DAY, DAY + dt.timedelta(days=2))
    assert days == [(first.day, first), (DAY + dt.timedelta(days=1), None), (third.day, third)]
    assert await store.days(DAY, DAY - dt.timedelta(days=1)) == []


async def test_an_undecodable_entry_reads_as_none(store: StatisticsStore) -> None:
    await store.redis.set(store.keys.statistics(DAY.isoformat()), b'{"day": "not a day"}')
    assert await store.day(DAY) is None
