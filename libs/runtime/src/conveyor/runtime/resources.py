"""Opening the shared resources of a service (Redis, broker, job store) in one exit stack."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from conveyor.contracts.keys import Keys
from conveyor.contracts.topology import Topology
from conveyor.runtime.broker import Broker, BrokerUnavailableError
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.redis_client import open_redis
from conveyor.runtime.script_batcher import ReplicaWait
from conveyor.runtime.settings import Settings, WorkerSettings
from conveyor.runtime.transport.redis_sentinel import sentinel_config
from conveyor.runtime.unconfirmed_jobs import UnconfirmedJobs

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Resources:
    """Everything a service shares with its handlers and routes."""

    settings: Settings
    redis: Redis
    broker: Broker
    store: JobStore
    lifecycle: JobLifecycle
    metrics: Metrics
    keys: Keys
    topology: Topology


async def open_resources(
    settings: Settings,
    stack: contextlib.AsyncExitStack,
    *,
    service: str,
    wait_for_broker: bool = True,
    connect_timeout: float = 60.0,
) -> Resources:
    """Connect to Redis and RabbitMQ and register their shutdown on ``stack``.

    With ``wait_for_broker`` (workers) this retries until RabbitMQ answers or
    ``connect_timeout`` passes; without it (the gateway) the broker connects in the
    background and publishing fails fast until it is up.
    """
    keys, topology = Keys(settings.namespace), Topology(settings.namespace, settings.queue_type)
    redis = open_redis(settings.redis_url, sentinel_config(settings), transport=settings.transport)
    stack.push_async_callback(redis.aclose)
    metrics = Metrics()
    broker = Broker(
        settings.amqp_url,
        topology,
        publish_timeout=settings.publish_timeout,
        connection_name=f"{service}:{settings.instance}",
        metrics=metrics,
        transport=settings.transport,
    )
    if wait_for_broker:
        await _connect_with_retries(broker, redis, connect_timeout)
    else:
        broker.connect_in_background()
    store = JobStore(
        redis,
        keys,
        retention_seconds=settings.retention_seconds,
        history_max=settings.event_history_max,
        owner_history_max=settings.owner_history_max,
        replica_wait=_replica_wait(settings, metrics),
    )
    unconfirmed = UnconfirmedJobs(
        redis,
        keys,
        broker,
        store,
        retention_seconds=settings.retention_seconds,
        lease_seconds=2 * settings.publish_timeout + 1,
        metrics=metrics,
    )
    # Workers fold a job's close events into one message; the gateway announces only a job's
    # queued and cancelled events, which no other event of the job would join in its process.
    fold_window = settings.fold_window if isinstance(settings, WorkerSettings) else 0.0
    lifecycle = JobLifecycle(store, broker, unconfirmed, fold_window=fold_window)
    stack.push_async_callback(broker.close)
    stack.push_async_callback(lifecycle.drain)
    # Every process takes part, so a job kept by a process that died is still published.
    republisher = asyncio.create_task(
        unconfirmed.run(interval=max(1.0, settings.publish_timeout)), name="unconfirmed-jobs"
    )
    stack.push_async_callback(_stop, republisher)
    return Resources(settings, redis, broker, store, lifecycle, metrics, keys, topology)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.wait([task])


def _replica_wait(settings: Settings, metrics: Metrics) -> ReplicaWait | None:
    if settings.redis_wait_replicas == 0:
        return None
    wanted, timeout = settings.redis_wait_replicas, settings.redis_wait_timeout_ms

    def short(acknowledged: int) -> None:
        # A record at submit or an outcome raises ReplicationShortError: a submit still
        # answers 202 (its worker records the job), an outcome is recorded again before its
        # message is acked. Any other event stays recorded but is not announced.
        metrics.redis_replication_short.inc()
        log.warning(
            "a job store write reached %d of %d Redis replicas within %d ms: a record or outcome"
            " is written again, other events are not announced",
            acknowledged, wanted, timeout,
        )  # fmt: skip

    return ReplicaWait(wanted, timeout, short)


async def _connect_with_retries(broker: Broker, redis: Redis, patience: float) -> None:
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        try:
            await redis.ping()
            await broker.connect()
            return
        except (BrokerUnavailableError, RedisError, OSError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("waiting for RabbitMQ and Redis: %s", exc)
            await asyncio.sleep(1.0)
