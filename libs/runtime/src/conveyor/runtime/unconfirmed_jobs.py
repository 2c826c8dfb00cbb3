"""Submitted jobs whose publish RabbitMQ never confirmed, published again until it does.

A publish whose frames went out but whose confirm never came (the connection dropped, or the
confirm timed out) may or may not be in the queue. Answering 503 would make a client that
retries get the job twice when the broker had it; answering 202 would lose it when the broker
had not. So the submitting process keeps the job here, in Redis, before it answers 202, and
every submitting process (gateways, the scheduler) publishes what is due again, unchanged.
The copy has the job's id and ``created_at``, so a worker that already ran or runs the job
skips or joins it: the job runs once either way.

An entry leaves once a publish of it is confirmed, or once its record shows a worker took the
job (the first publish reached the broker after all). Claiming an entry pushes its due time
out by a lease, so two processes rarely publish the same entry at once, and a process that
dies mid-way leaves it due again after the lease.
"""

from __future__ import annotations

import asyncio
import logging
import time

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from conveyor.contracts.codecs import encode
from conveyor.contracts.jobs import JobEnvelope
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState, UnconfirmedJob
from conveyor.contracts.topology import job_routing_key
from conveyor.runtime.broker import Broker, BrokerUnavailableError
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.metrics import Metrics

log = logging.getLogger(__name__)

_decoder = msgspec.json.Decoder(UnconfirmedJob)

_CLAIM_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id) end
return due
"""
"""Take up to ARGV[3] ids due by ARGV[1] (ms), pushing each one's due time to ARGV[2].

KEYS: unconfirmed_jobs. Returns the ids taken."""


class UnconfirmedJobs:
    """Keeps unconfirmed submits in Redis and publishes them again until confirmed."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        broker: Broker,
        store: JobStore,
        *,
        retention_seconds: int,
        lease_seconds: float,
        metrics: Metrics | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._broker = broker
        self._store = store
        self._retention = retention_seconds
        self._lease_ms = max(1, int(lease_seconds * 1000))
        self._metrics = metrics
        self._claim_due = redis.register_script(_CLAIM_DUE)

    async def hold(
        self, envelope: JobEnvelope, amqp_priority: int, headers: dict[str, str]
    ) -> None:
        """Keep the job to be published again; raises ``RedisError`` if Redis cannot."""
        entry = UnconfirmedJob(envelope=envelope, amqp_priority=amqp_priority, headers=headers)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(
                self._keys.unconfirmed_job(envelope.job_id),
                encode(entry),
                ex=self._retention,
            )
            # Due at once: the broker either has the message or not, whatever the wait.
            pipe.zadd(self._keys.unconfirmed_jobs, {envelope.job_id: _now_ms()})
            await pipe.execute()
        if self._metrics is not None:
            self._metrics.jobs_unconfirmed.inc()

    async def count(self) -> int:
        """How many jobs wait to be published again."""
        return int(await self._redis.zcard(self._keys.unconfirmed_jobs))

    async def publish_due(self, limit: int = 100) -> int:
        """Publish again what is due (up to ``limit``); how many were confirmed or dropped.

        Raises ``BrokerUnavailableError`` or ``RedisError`` when either is down: the entries
        not done stay, due again after the lease.
        """
        now = _now_ms()
        taken = await self._claim_due(
            keys=[self._keys.unconfirmed_jobs], args=[now, now + self._lease_ms, limit]
        )
        done = 0
        for raw_id in taken:
            job_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            await self._publish_one(job_id)
            done += 1
        return done

    async def _publish_one(self, job_id: str) -> None:
        raw = await self._redis.get(self._keys.unconfirmed_job(job_id))
        if raw is None:  # expired with its retention, or another process finished it
            await self._forget(job_id)
            return
        entry = _decoder.decode(raw)
        envelope = entry.envelope
        record = await self._store.get(job_id)
        if record is not None and (record.state is not JobState.QUEUED or record.attempt > 1):
            # A worker took the job: the first publish reached the broker after all.
            log.info("job %s was delivered; not published again", job_id, extra={"job_id": job_id})
            await self._forget(job_id, outcome="already_delivered")
            return
        await self._broker.publish(
            self._broker.topology.jobs,
            job_routing_key(envelope.job_type),
            encode(envelope),
            headers=entry.headers,
            priority=entry.amqp_priority,
            message_id=job_id,
        )
        log.info("job %s published again and confirmed", job_id, extra={"job_id": job_id})
        await self._forget(job_id, outcome="confirmed")

    async def _forget(self, job_id: str, outcome: str | None = None) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self._keys.unconfirmed_jobs, job_id)
            pipe.delete(self._keys.unconfirmed_job(job_id))
            await pipe.execute()
        if outcome is not None and self._metrics is not None:
            self._metrics.jobs_republished.labels(outcome).inc()

    async def run(self, interval: float) -> None:
        """Publish due entries every ``interval`` seconds while the broker is connected."""
        while True:
            await self._broker.wait_connected()
            try:
                await self.publish_due()
            except (BrokerUnavailableError, RedisError) as exc:
                log.warning("could not publish unconfirmed jobs again yet: %s", exc)
            await asyncio.sleep(interval)


def _now_ms() -> int:
    return int(time.time() * 1000)
