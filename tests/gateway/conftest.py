"""Gateway test fixtures: one in-process gateway on the real services, one whose broker is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from conveyor.gateway.state import Gateway
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from tests.gateway.helpers import UNREACHABLE_AMQP_URL, FakeWorker, running_gateway


@pytest.fixture(scope="session")
async def gateway_and_client(namespace: str) -> AsyncIterator[tuple[Gateway, TestClient[Any, Any]]]:
    async with running_gateway(namespace) as pair:
        yield pair


@pytest.fixture(scope="session")
def gateway(gateway_and_client: tuple[Gateway, TestClient[Any, Any]]) -> Gateway:
    return gateway_and_client[0]


@pytest.fixture(scope="session")
def client(gateway_and_client: tuple[Gateway, TestClient[Any, Any]]) -> TestClient[Any, Any]:
    return gateway_and_client[1]


@pytest.fixture(scope="session")
async def offline_client(namespace: str) -> AsyncIterator[TestClient[Any, Any]]:
    """A gateway whose RabbitMQ is unreachable (it keeps trying in the background)."""
    async with running_gateway(
        namespace, wait_for_broker=False, amqp_url=UNREACHABLE_AMQP_URL, publish_timeout=1.0
    ) as (_, client):
        yield client


@pytest.fixture(scope="session")
def worker(store: JobStore, lifecycle: JobLifecycle) -> FakeWorker:
    return FakeWorker(store, lifecycle)
