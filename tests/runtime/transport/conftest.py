"""Transport contract tests run in both modes: ``mode_broker`` is a broker of each mode,
``transport`` each mode for the Redis tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from conveyor.contracts.topology import Topology
from conveyor.runtime.broker import Broker
from conveyor.runtime.transport.mode import MODES, TransportMode
from tests.support.namespace import AMQP_URL


@pytest.fixture(scope="module", params=MODES)
def mode(request: pytest.FixtureRequest) -> TransportMode:
    """Each transport mode in turn (the tests depending on it run once per mode)."""
    mode: TransportMode = request.param
    return mode


@pytest.fixture(scope="module")
async def mode_broker(module_namespace: str, mode: TransportMode) -> AsyncIterator[Broker]:
    broker = Broker(
        AMQP_URL, Topology(module_namespace), connection_name=f"tests-{mode}", transport=mode
    )
    await broker.connect()
    yield broker
    await broker.close()


@pytest.fixture(params=MODES)
def transport(request: pytest.FixtureRequest) -> TransportMode:
    mode: TransportMode = request.param
    return mode
