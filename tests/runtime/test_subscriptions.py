"""``Subscriber.subscribe`` on the real broker: broadcasts reach every instance decoded, in the
publisher's trace, counted by outcome; what does not decode is dropped and counted. Dynamic
bindings receive exactly the keys bound, and are bound again after the consumer comes back."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest

from conveyor.contracts.codecs import control_decoder, encode
from conveyor.contracts.control import ControlCommand, ReloadSchedules
from conveyor.contracts.events import DatasetUpdated
from conveyor.contracts.topology import (
    command_routing_key,
    domain_event_routing_key,
    job_event_routing_key,
    owner_events_binding,
)
from conveyor.runtime.broker import Broker
from conveyor.runtime.dynamic_subscription import DynamicSubscription
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.subscriptions import (
    Broadcast,
    DynamicBindings,
    Exchange,
    Subscriber,
    WorkQueue,
)
from conveyor.runtime.telemetry import current_trace_id
from conveyor.runtime.transport.amqp_delivery import Delivery

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-00"  # unsampled: nothing to export
SAMPLED_TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"

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


class _Note(msgspec.Struct):
    note: str


def _routed_note(delivery: Delivery) -> tuple[str, str]:
    return delivery.routing_key, msgspec.json.decode(delivery.body, type=_Note).note


NOTES = DynamicBindings(name="test-notes", exchange=Exchange.EVENTS, decode=_routed_note)


async def _publish_note(broker: Broker, owner: str, note: str | bytes, **headers: str) -> None:
    body = note if isinstance(note, bytes) else msgspec.json.encode(_Note(note))
    await broker.publish_event(
        job_event_routing_key(owner, "progressed", "t"), body, headers=headers
    )


async def test_dynamic_bindings_receive_only_the_keys_bound_decoded_counted_in_the_trace(
    declared: Broker,
) -> None:
    metrics = Metrics()
    heard: asyncio.Queue[tuple[tuple[str, str], str | None]] = asyncio.Queue()

    async def on_note(note: tuple[str, str]) -> None:
        await heard.put((note, current_trace_id()))

    subscriber = Subscriber(declared, instance=uuid.uuid4().hex, metrics=metrics)
    subscription = await subscriber.subscribe(NOTES, on_note)
    alice, bob = f"alice-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    try:
        await subscription.bind(owner_events_binding(alice))
        await _publish_note(declared, bob, "not bound")
        await _publish_note(declared, alice, b"{not json")
        # Sampled: dynamic bindings skip the context of messages no span would record.
        await _publish_note(declared, alice, "one", traceparent=SAMPLED_TRACEPARENT)
        async with asyncio.timeout(10):
            # Published after bob's on the same channel: had bob's arrived, it came first.
            assert await heard.get() == (
                (job_event_routing_key(alice, "progressed", "t"), "one"),
                TRACE_ID,
            )
        await subscription.bind(owner_events_binding(bob))
        await subscription.unbind(owner_events_binding(alice))
        assert subscription.routing_keys == {owner_events_binding(bob)}
        await _publish_note(declared, alice, "unbound")
        await _publish_note(declared, bob, "two")
        async with asyncio.timeout(10):
            (_, note), _ = await heard.get()
        assert note == "two"
        assert consumed(metrics, NOTES.name, "undecodable") == 1
        assert consumed(metrics, NOTES.name, "handled") == 2
    finally:
        await subscription.cancel()


async def test_dynamic_bindings_are_bound_again_after_the_channel_reopens_then_on_restored(
    declared: Broker,
) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    restores: asyncio.Queue[frozenset[str]] = asyncio.Queue()

    async def on_note(note: tuple[str, str]) -> None:
        await heard.put(note[1])

    subscriber = Subscriber(declared, instance=uuid.uuid4().hex, metrics=Metrics())
    subscription: DynamicSubscription | None = None

    async def on_restored() -> None:
        assert subscription is not None
        await restores.put(subscription.routing_keys)

    subscription = await subscriber.subscribe(NOTES, on_note, on_restored=on_restored)
    owner = f"carol-{uuid.uuid4().hex[:8]}"
    try:
        await subscription.bind(owner_events_binding(owner))
        first = await subscription.channel.get_underlay_channel()
        await first.close()  # as a channel error would; the robust channel reopens
        async with asyncio.timeout(10):
            assert await restores.get() == {owner_events_binding(owner)}
        assert await subscription.channel.get_underlay_channel() is not first
        assert subscription.restored >= 1
        await _publish_note(declared, owner, "after the reopen")
        async with asyncio.timeout(10):
            assert await heard.get() == "after the reopen"
    finally:
        await subscription.cancel()
