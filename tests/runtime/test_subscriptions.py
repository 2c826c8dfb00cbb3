"""``Subscriber.subscribe`` on the real broker: broadcasts reach every instance decoded, in the
publisher's trace, counted by outcome; what does not decode is dropped and counted."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest

from conveyor.contracts.codecs import control_decoder, encode
from conveyor.contracts.control import ControlCommand, ReloadSchedules
from conveyor.contracts.events import DatasetUpdated
from conveyor.contracts.topology import command_routing_key, domain_event_routing_key
from conveyor.runtime.broker import Broker
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.subscriptions import Broadcast, Exchange, Subscriber, WorkQueue
from conveyor.runtime.telemetry import current_trace_id

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-00"  # unsampled: nothing to export

RELOADS = Broadcast(
    name="test-reloads",
    exchange=Exchange.CONTROL,
    bindings=(command_routing_key(ReloadSchedules),),
    decode=control_decoder.decode,
)
DATASETS = Broadcast(
    name="test-datasets",
    exchange=Exchange.EVENTS,
    bindings=(domain_event_routing_key(DatasetUpdated),),
    decode=msgspec.json.Decoder(DatasetUpdated).decode,
    ack=True,
)


@pytest.fixture
async def declared(module_broker: Broker) -> Broker:
    await module_broker.declare_topology()
    return module_broker


def consumed(metrics: Metrics, subscription: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "conveyor_messages_consumed_total", {"subscription": subscription, "outcome": outcome}
    )
    return value or 0.0


async def test_a_broadcast_reaches_every_instance_decoded_in_the_publishers_trace(
    declared: Broker,
) -> None:
    metrics = Metrics()
    heard: asyncio.Queue[tuple[str, ControlCommand, str | None]] = asyncio.Queue()
    subscriptions = []
    for instance in ("a", "b"):

        async def on_command(command: ControlCommand, instance: str = instance) -> None:
            await heard.put((instance, command, current_trace_id()))

        name = f"{instance}-{uuid.uuid4().hex}"
        subscriber = Subscriber(declared, instance=name, metrics=metrics)
        subscriptions.append(await subscriber.subscribe(RELOADS, on_command))
    try:
        await declared.publish(
            declared.topology.control,
            command_routing_key(ReloadSchedules),
            encode(ReloadSchedules()),
            headers={"traceparent": TRACEPARENT},
            mandatory=False,
        )
        async with asyncio.timeout(10):
            received = sorted([await heard.get(), await heard.get()], key=lambda r: r[0])
        assert received == [
            ("a", ReloadSchedules(), TRACE_ID),
            ("b", ReloadSchedules(), TRACE_ID),
        ]
        assert consumed(metrics, RELOADS.name, "handled") == 2
    finally:
        for subscription in subscriptions:
            await subscription.cancel()


async def test_an_undecodable_message_is_counted_and_dropped_and_the_next_one_arrives(
    declared: Broker,
) -> None:
    metrics = Metrics()
    heard: asyncio.Queue[DatasetUpdated] = asyncio.Queue()

    async def on_event(event: DatasetUpdated) -> None:
        await heard.put(event)

    subscriber = Subscriber(declared, instance=uuid.uuid4().hex, metrics=metrics)
    subscription = await subscriber.subscribe(DATASETS, on_event)
    event = DatasetUpdated(version="v2", rows=3, source="tests")
    try:
        for body in (b"{not json", encode(event)):
            await declared.publish_event(domain_event_routing_key(DatasetUpdated), body, headers={})
        async with asyncio.timeout(10):
            assert await heard.get() == event
        assert consumed(metrics, DATASETS.name, "undecodable") == 1
        assert consumed(metrics, DATASETS.name, "handled") == 1
    finally:
        await subscription.cancel()


async def test_a_failing_handler_is_counted_failed_and_later_messages_still_arrive(
    declared: Broker,
) -> None:
    metrics = Metrics()
    heard: asyncio.Queue[DatasetUpdated] = asyncio.Queue()

    async def on_event(event: DatasetUpdated) -> None:
        if event.source == "bad":
            raise RuntimeError("refresh failed")
        await heard.put(event)

    subscriber = Subscriber(declared, instance=uuid.uuid4().hex, metrics=metrics)
    subscription = await subscriber.subscribe(DATASETS, on_event)
    good = DatasetUpdated(version="v3", rows=1, source="good")
    try:
        for event in (DatasetUpdated(version="v3", rows=1, source="bad"), good):
            await declared.publish_event(
                domain_event_routing_key(DatasetUpdated), encode(event), headers={}
            )
        async with asyncio.timeout(10):
            assert await heard.get() == good
        assert consumed(metrics, DATASETS.name, "failed") == 1
        assert consumed(metrics, DATASETS.name, "handled") == 1
    finally:
        await subscription.cancel()


async def test_a_work_queue_is_consumed_on_its_owners_channel_only(declared: Broker) -> None:
    async def ignore(message: object) -> None:
        raise AssertionError("never consumed")

    subscriber = Subscriber(declared, instance=uuid.uuid4().hex, metrics=Metrics())
    with pytest.raises(ValueError, match="owner's channel"):
        await subscriber.subscribe(WorkQueue("nobody"), ignore)
