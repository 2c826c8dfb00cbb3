"""Several AMQP URLs: connect tries each node in turn, a lost connection moves to the next."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from conveyor.contracts.topology import Topology
from conveyor.runtime.broker import Broker, BrokerUnavailableError
from conveyor.runtime.transport.amqp_failover import split_amqp_urls
from tests.support.namespace import AMQP_URL
from tests.support.rabbit import close_rabbit_connection

DEAD = "amqp://guest:guest@127.0.0.1:1/"
"""Nothing listens on port 1: a node that is down."""
SAME_NODE = AMQP_URL.rstrip("/") + "/%2F"
"""The shared broker under a second URL (its default virtual host spelled out)."""


def test_the_setting_takes_one_url_or_several_comma_separated() -> None:
    assert split_amqp_urls("amqp://a/") == ["amqp://a/"]
    assert split_amqp_urls(" amqp://a/ , amqp://b/,") == ["amqp://a/", "amqp://b/"]
    with pytest.raises(ValueError, match="no AMQP URL"):
        split_amqp_urls(" , ")


async def test_connect_skips_a_node_that_is_down_and_publishes_confirmed(
    module_namespace: str,
) -> None:
    broker = Broker(f"{DEAD},{AMQP_URL}", Topology(module_namespace), connection_name="failover")
    try:
        await broker.connect()
        await broker.publish(broker.topology.jobs, "job.diagnostics", b"{}", mandatory=False)
        assert broker.user_id == "guest"
    finally:
        await broker.close()


async def test_connect_fails_only_once_every_node_was_tried(module_namespace: str) -> None:
    broker = Broker(f"{DEAD},{DEAD}", Topology(module_namespace), connection_name="failover")
    with pytest.raises(BrokerUnavailableError):
        await broker.connect()
    await broker.close()


async def test_a_lost_connection_reconnects_to_the_next_node(module_namespace: str) -> None:
    name = f"failover-{uuid.uuid4().hex[:8]}"
    broker = Broker(f"{AMQP_URL},{SAME_NODE}", Topology(module_namespace), connection_name=name)
    await broker.connect()
    try:
        reconnected = asyncio.Event()
        broker.connection.reconnect_callbacks.add(lambda *_: reconnected.set())
        await asyncio.to_thread(close_rabbit_connection, name)
        async with asyncio.timeout(30):
            await reconnected.wait()
        assert str(broker.connection.url).endswith("/%2F")  # type: ignore[attr-defined]
        await broker.publish(broker.topology.jobs, "job.diagnostics", b"{}", mandatory=False)
    finally:
        await broker.close()
