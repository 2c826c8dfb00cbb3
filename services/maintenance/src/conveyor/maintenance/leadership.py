"""The scheduler leader lock: a Redis key with a TTL, renewed by its holder, with fencing tokens.

Each acquisition takes the next number of a counter (the fencing token) and stores
``<instance> <token>`` as the lock's value. Renewal and every firing check that value, so an
instance that stalled past the TTL (and was replaced) can neither renew nor fire any more.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from conveyor.contracts.keys import Keys

log = logging.getLogger(__name__)

# KEYS: lock, fence counter; ARGV: instance, ttl_ms
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local value = ARGV[1] .. ' ' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return value
"""
# KEYS: lock; ARGV: value, ttl_ms
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
# KEYS: lock; ARGV: value
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaderLock:
    """One instance's handle on the leader lock."""

    def __init__(self, redis: Redis, keys: Keys, *, instance: str, ttl: float) -> None:
        self._redis = redis
        self._keys = keys
        self._instance = instance
        self._ttl_ms = max(1, int(ttl * 1000))
        self.value: str | None = None
        """``<instance> <fencing token>`` while this instance holds the lock."""

    @property
    def held(self) -> bool:
        return self.value is not None

    @property
    def fence(self) -> int:
        assert self.value is not None
        return int(self.value.rsplit(" ", 1)[1])

    async def try_acquire(self) -> bool:
        raw = await self._redis.eval(
            _ACQUIRE, 2, self._keys.scheduler_leader, self._keys.scheduler_fence,
            self._instance, self._ttl_ms,
        )  # fmt: skip
        if raw is None:
            return False
        self.value = raw.decode() if isinstance(raw, bytes) else str(raw)
        return True

    async def renew(self) -> bool:
        """Extend the lock; ``False`` (and no longer held) if another instance took it."""
        if self.value is None:
            return False
        kept = await self._redis.eval(
            _RENEW, 1, self._keys.scheduler_leader, self.value, self._ttl_ms
        )
        if not kept:
            log.warning("scheduler leadership lost (lock %s expired or taken)", self.value)
            self.value = None
        return bool(kept)

    async def release(self) -> None:
        if self.value is not None:
            await self._redis.eval(_RELEASE, 1, self._keys.scheduler_leader, self.value)
            self.value = None
