"""``conveyor_workers``: live and dead instances per service, read from the heartbeat registry."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.contracts.monitoring import WorkerInfo, WorkerStatus
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.monitoring.worker_gauge import WorkerGauge, count_workers
from conveyor.runtime.worker.heartbeat import Heartbeat
from tests.monitoring.support import eventually
from tests.observability.scrape import free_port, scrape, value
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE
from tests.support.namespace import delete_rabbit_entities, delete_redis_keys, new_namespace
from tests.support.services import running_worker


@pytest.fixture
async def gauge_namespace() -> AsyncIterator[str]:
    # Its own namespace: the package's shared maintenance worker would be counted otherwise.
    ns = new_namespace()
    yield ns
    await delete_redis_keys(ns)
    await delete_rabbit_entities(ns)


def _info(service: str, instance: str, status: WorkerStatus) -> WorkerInfo:
    now = dt.datetime.now(dt.UTC)
    return WorkerInfo(
        service=service,
        instance=instance,
        host="h",
        pid=1,
        concurrency=1,
        running_jobs=[],
        processed=0,
        failed=0,
        job_types=[],
        started_at=now,
        last_seen=now,
        seconds_since_seen=0.0,
        status=status,
    )


def test_every_known_service_is_counted_in_both_states_even_with_no_worker() -> None:
    workers = [
        _info("export", "e1", WorkerStatus.ALIVE),
        _info("export", "e2", WorkerStatus.ALIVE),
        _info("export", "e3", WorkerStatus.DEAD),
        _info("custom", "c1", WorkerStatus.ALIVE),
    ]
    assert count_workers(workers, ["export", "maintenance"]) == {
        ("export", "alive"): 2,
        ("export", "dead"): 1,
        ("maintenance", "alive"): 0,
        ("maintenance", "dead"): 0,
        ("custom", "alive"): 1,
    }


def _beat(redis: Redis, keys: Keys, service: str, instance: str) -> Heartbeat:
    return Heartbeat(
        redis,
        keys,
        service=service,
        instance=instance,
        concurrency=2,
        job_types=["diagnostics"],
        interval=60,
        snapshot=lambda: ([], 0, 0),
    )


async def test_the_gauge_counts_beating_and_silent_workers_and_forgets_stopped_ones(
    redis: Redis, gauge_namespace: str
) -> None:
    keys, metrics = Keys(gauge_namespace), Metrics()
    gauge = WorkerGauge(redis, keys, metrics, interval=60, services=["export", "aggregates"])
    alive, silent = _beat(redis, keys, "export", "e1"), _beat(redis, keys, "aggregates", "a1")
    await alive.beat()
    await silent.beat()
    await redis.delete(keys.worker("a1"))  # its heartbeat key expired: the process is gone

    await gauge.refresh()

    sample = metrics.registry.get_sample_value
    assert sample("conveyor_workers", {"service": "export", "state": "alive"}) == 1
    assert sample("conveyor_workers", {"service": "export", "state": "dead"}) == 0
    assert sample("conveyor_workers", {"service": "aggregates", "state": "alive"}) == 0
    assert sample("conveyor_workers", {"service": "aggregates", "state": "dead"}) == 1

    await alive.stop()  # a clean exit leaves the registry: neither alive nor dead
    await gauge.refresh()
    assert sample("conveyor_workers", {"service": "export", "state": "alive"}) == 0
    assert sample("conveyor_workers", {"service": "aggregates", "state": "dead"}) == 1


async def test_a_maintenance_worker_serving_metrics_exports_the_worker_count(
    redis: Redis, gauge_namespace: str
) -> None:
    port = free_port()
    env = {**FAST_WORKER_ENV, "CONVEYOR_METRICS_PORT": str(port)}
    async with running_worker(MAINTENANCE, gauge_namespace, redis, **env):
        url = f"http://127.0.0.1:{port}/metrics"
        samples = await eventually(
            lambda: scrape(url),
            lambda s: value(s, "conveyor_workers", service="maintenance", state="alive") == 1,
        )
    # Present with 0, not missing: "no live export worker" is a series an alert can match.
    for service, state in [("export", "alive"), ("maintenance", "dead")]:
        labels = frozenset({"service": service, "state": state}.items())
        assert samples[("conveyor_workers", labels)] == 0
