"""Fixtures shared by every test: a per-run namespace on the real RabbitMQ and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from conveyor.contracts.keys import Keys
from conveyor.contracts.topology import Topology
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.redis_client import open_redis
from tests.support.namespace import (
    AMQP_URL,
    REDIS_URL,
    TRANSPORT,
    delete_rabbit_entities,
    delete_redis_keys,
    new_namespace,
)


@pytest.fixture(scope="session")
async def namespace() -> AsyncIterator[str]:
    """This run's prefix for exchanges, queues and Redis keys; everything under it is removed."""
    ns = new_namespace()
    yield ns
    await delete_redis_keys(ns)
    await delete_rabbit_entities(ns)


@pytest.fixture(scope="session")
async def redis(namespace: str) -> AsyncIterator[Redis]:
    client = open_redis(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def broker(namespace: str) -> AsyncIterator[Broker]:
    b = Broker(AMQP_URL, Topology(namespace), connection_name="tests", transport=TRANSPORT)
    await b.connect()
    yield b
    await b.close()


@pytest.fixture(scope="session")
def keys(namespace: str) -> Keys:
    return Keys(namespace)


@pytest.fixture(scope="session")
def store(redis: Redis, keys: Keys) -> JobStore:
    return JobStore(redis, keys, retention_seconds=3600, history_max=100)


@pytest.fixture(scope="session")
def lifecycle(store: JobStore, broker: Broker) -> JobLifecycle:
    return JobLifecycle(store, broker)


# -- a namespace per test module, for tests whose workers must not see other modules' jobs --


@pytest.fixture(scope="module")
async def module_namespace() -> AsyncIterator[str]:
    ns = new_namespace()
    yield ns
    await delete_redis_keys(ns)
    await delete_rabbit_entities(ns)


@pytest.fixture(scope="module")
async def module_broker(module_namespace: str) -> AsyncIterator[Broker]:
    broker = Broker(
        AMQP_URL, Topology(module_namespace), connection_name="tests", transport=TRANSPORT
    )
    await broker.connect()
    yield broker
    await broker.close()


@pytest.fixture(scope="module")
def module_store(redis: Redis, module_namespace: str) -> JobStore:
    return JobStore(redis, Keys(module_namespace), retention_seconds=3600, history_max=1000)


@pytest.fixture(scope="module")
def module_lifecycle(module_store: JobStore, module_broker: Broker) -> JobLifecycle:
    return JobLifecycle(module_store, module_broker)
