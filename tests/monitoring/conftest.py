"""Monitoring tests: an in-process gateway and real worker processes.

Worker processes take seconds to start on a busy machine, so the modules here share one
namespace and one maintenance worker; a module whose assertions need an empty namespace
(no consumers, draining everything) overrides ``module_namespace`` with its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from conveyor.gateway.state import Gateway
from tests.gateway.helpers import running_gateway
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE
from tests.support.namespace import delete_rabbit_entities, delete_redis_keys, new_namespace
from tests.support.services import ServiceProcess, running_worker


@pytest.fixture(scope="package")
async def module_namespace() -> AsyncIterator[str]:
    ns = new_namespace()
    yield ns
    await delete_redis_keys(ns)
    await delete_rabbit_entities(ns)


@pytest.fixture(scope="module")
async def ops_gateway(module_namespace: str) -> AsyncIterator[tuple[Gateway, TestClient[Any, Any]]]:
    async with running_gateway(module_namespace) as pair:
        yield pair


@pytest.fixture(scope="module")
def ops_client(ops_gateway: tuple[Gateway, TestClient[Any, Any]]) -> TestClient[Any, Any]:
    return ops_gateway[1]


@pytest.fixture(scope="package")
async def maintenance_worker(module_namespace: str, redis: Redis) -> AsyncIterator[ServiceProcess]:
    """A maintenance worker (it runs diagnostics jobs) shared by the package's modules."""
    async with running_worker(MAINTENANCE, module_namespace, redis, **FAST_WORKER_ENV) as worker:
        yield worker
