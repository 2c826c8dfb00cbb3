"""The intake hands a submit's ``job.queued`` to this gateway's WebSockets without the broker.

A gateway of its own per test (its event queue is stopped in one of them), on the real
RabbitMQ and Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from conveyor.gateway.state import Gateway
from tests.gateway.helpers import (
    assert_nothing_more,
    auth,
    new_user,
    receive,
    receive_events,
    receive_until,
    running_gateway,
    submit,
)

Client = TestClient[Any, Any]


@pytest.fixture
async def own_gateway(namespace: str) -> AsyncIterator[tuple[Gateway, Client]]:
    async with running_gateway(namespace) as pair:
        yield pair


async def test_a_submits_queued_event_reaches_a_watching_websocket_though_the_broker_brings_none(
    own_gateway: tuple[Gateway, Client],
) -> None:
    gateway, client = own_gateway
    user = new_user()
    first = await submit(client, user)
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "job_id": first["job_id"]})
        await receive_until(ws, "subscribed")
        await ws.send_json({"type": "subscribe", "all": True})
        await receive_until(ws, "subscribed")
        subscription = gateway.intake.subscription
        assert subscription is not None
        await subscription.cancel()  # from now on nothing comes from the broker
        job = await submit(client, user)
        [event] = await receive_events(ws, 1)
        assert "job_id" not in event  # the "all" subscription's message
        assert event["event"]["event"] == "job.queued"
        assert event["event"]["job_id"] == job["job_id"]
        assert event["cursor"]


async def test_the_brokers_copy_of_a_handed_on_queued_event_is_not_sent_again(
    own_gateway: tuple[Gateway, Client],
) -> None:
    gateway, client = own_gateway
    user = new_user()
    async with client.ws_connect("/ws", headers=auth(user)) as ws:
        await receive(ws)
        await ws.send_json({"type": "subscribe", "all": True})
        await receive_until(ws, "subscribed")
        received = gateway.intake.received
        job = await submit(client, user)
        [event] = await receive_events(ws, 1)
        assert event["event"]["job_id"] == job["job_id"]
        await assert_nothing_more(ws, gateway, gateway.lifecycle)
        # The broker did bring its copy (and the marker): it was dropped as already sent.
        assert gateway.intake.received >= received + 2
