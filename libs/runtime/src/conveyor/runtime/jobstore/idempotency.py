"""Idempotency-Key reservations: a key names the job (and request digest) that claimed it."""

from __future__ import annotations

from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.runtime.jobstore.records import text
from conveyor.runtime.telemetry import redis_span


async def reserve_key(
    redis: Redis, keys: Keys, owner: str, key: str, job_id: str, digest: str, ttl_seconds: int
) -> tuple[str, str] | None:
    """Claim ``key`` for ``job_id``; if it was already claimed return (job id, digest)."""
    name = keys.idempotency(owner, key)
    value = f"{job_id} {digest}"
    with redis_span("reserve_idempotency_key"):
        # One call (SET NX GET, Redis 7): the key's value before, None if this set it.
        current = await redis.set(name, value, nx=True, ex=ttl_seconds, get=True)
    if current is None or text(current) == value:
        # Ours already: a retried command (its connection failed after the SET landed, e.g.
        # across a Redis failover) finds its own reservation.
        return None
    existing_id, _, existing_digest = text(current).partition(" ")
    return existing_id, existing_digest


async def release_key(redis: Redis, keys: Keys, owner: str, key: str, job_id: str) -> None:
    """Free a claimed key whose job never got queued (only if it still names ``job_id``)."""
    name = keys.idempotency(owner, key)
    with redis_span("release_idempotency_key"):
        current = await redis.get(name)
        if current is not None and text(current).split(" ", 1)[0] == job_id:
            await redis.delete(name)
