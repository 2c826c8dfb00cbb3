"""Noticing that Redis lost its data: a restart without persistence, a flush, or a failover to
a replica that had nothing.

Every watcher writes one marker key if it is missing and remembers its value. When the marker
later is missing again, or holds another value (another watcher wrote it after the loss), the
data written before is gone: job records and histories, schedules, paused job types. Watchers
then repair what they can (the scheduler seeds its default schedules again) and health says so.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from redis.asyncio import Redis

from conveyor.contracts.keys import Keys

log = logging.getLogger(__name__)


class StoreEpoch:
    """One watcher of the marker; ``check`` is one round trip (``SET NX GET``)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._key = keys.store_epoch
        self._seen: str | None = None
        self.lost_at: dt.datetime | None = None
        """When this watcher last noticed a loss (``None`` if never)."""

    async def check(self) -> bool:
        """Whether Redis lost its data since this watcher's previous check."""
        mine = uuid.uuid4().hex
        raw = await self._redis.set(self._key, mine, nx=True, get=True)
        current = mine if raw is None else (raw.decode() if isinstance(raw, bytes) else str(raw))
        lost = self._seen is not None and current != self._seen
        self._seen = current
        if lost:
            self.lost_at = dt.datetime.now(dt.UTC)
            log.error("Redis lost its data (its marker key was gone or replaced)")
        return lost
