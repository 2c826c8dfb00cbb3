"""The cached daily statistics in Redis: written by the daily-statistics job, read by the API.

One string per day (``Keys.statistics``, kept for a TTL) and a copy of the newest day's
(``Keys.latest_statistics``, kept until a newer day replaces it), each the JSON of a
``DailyStatistics``.
"""

from __future__ import annotations

import datetime as dt
import logging

import msgspec
from redis.asyncio import Redis

from conveyor.contracts.codecs import encode
from conveyor.contracts.keys import Keys
from conveyor.contracts.statistics import DailyStatistics

log = logging.getLogger(__name__)

_decoder = msgspec.json.Decoder(DailyStatistics)

# Recomputing an older day (a backfill) must not make it the latest: the copy moves only to a
# day at least as new as the one it holds (ISO dates compare as strings).
# KEYS: the day's key, the latest key; ARGV: JSON, day, TTL seconds
_SAVE = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
local current = redis.call('GET', KEYS[2])
if current then
  local ok, held = pcall(cjson.decode, current)
  if ok and type(held) == 'table' and type(held.day) == 'string' and held.day > ARGV[2] then
    return 0
  end
end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""


class StatisticsStore:
    """Save and read the daily statistics of one namespace."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._save = redis.register_script(_SAVE)

    async def save(self, stats: DailyStatistics, *, ttl_seconds: int) -> str:
        """Cache ``stats`` as its day's numbers, and as the latest unless a newer day is held;
        returns the day's key."""
        day = stats.day.isoformat()
        key = self.keys.statistics(day)
        await self._save(
            keys=[key, self.keys.latest_statistics], args=[encode(stats), day, ttl_seconds]
        )
        return key

    async def latest(self) -> DailyStatistics | None:
        """The newest computed day's numbers, if any day was computed."""
        return _decode(await self.redis.get(self.keys.latest_statistics))

    async def day(self, day: dt.date) -> DailyStatistics | None:
        """The numbers cached for ``day``, ``None`` if none are (not computed, or expired)."""
        return _decode(await self.redis.get(self.keys.statistics(day.isoformat())))

    async def days(
        self, start: dt.date, end: dt.date
    ) -> list[tuple[dt.date, DailyStatistics | None]]:
        """Each day from ``start`` to ``end`` (both included) with its numbers, if cached."""
        wanted = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
        if not wanted:
            return []
        bodies = await self.redis.mget([self.keys.statistics(d.isoformat()) for d in wanted])
        return [(d, _decode(body)) for d, body in zip(wanted, bodies, strict=True)]


def _decode(body: bytes | str | None) -> DailyStatistics | None:
    if body is None:
        return None
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError as exc:
        # Written by an incompatible version: as good as absent, but worth a line in the log.
        log.warning("cached daily statistics do not decode: %s", exc)
        return None
