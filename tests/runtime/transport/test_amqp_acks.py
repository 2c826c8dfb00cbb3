"""Worker acks and consumers on the real broker, in both transport modes: acks (merged, in fast
mode) settle exactly what was settled (never a message on its way back to the queue), and a
consumer survives a dropped connection and a deleted queue."""

from __future__ import annotations

import asyncio
import random
import uuid

import aio_pika
import aiormq
import pytest
from pamqp import commands as spec
from pamqp import frame as pamqp_frame

from conveyor.contracts.topology import Topology
from conveyor.runtime.broker import Broker
from conveyor.runtime.transport.amqp_acks import _ChannelAcks, _frames, ack_frame, new_acks
from conveyor.runtime.transport.amqp_consume import new_consumer
from conveyor.runtime.transport.amqp_delivery import Delivery
from conveyor.runtime.transport.mode import TransportMode
from tests.support.namespace import AMQP_URL
from tests.support.rabbit import close_rabbit_connection


@pytest.mark.parametrize(("channel", "tag", "multiple"), [(1, 1, False), (7, 2**40 + 3, True)])
def test_an_ack_frame_is_what_pamqp_writes(channel: int, tag: int, multiple: bool) -> None:
    expected = pamqp_frame.marshal(spec.Basic.Ack(delivery_tag=tag, multiple=multiple), channel)
    assert ack_frame(channel, tag, multiple=multiple) == expected


def test_acks_merge_up_to_the_first_unsettled_delivery() -> None:
    state = _ChannelAcks()
    state.unsettled.extend(range(1, 11))
    state.acking.update({1, 2, 3, 5, 9})  # 4 is still running
    assert _frames(1, state) == ack_frame(1, 3, multiple=True) + b"".join(
        ack_frame(1, tag, multiple=False) for tag in (5, 9)
    )
    assert list(state.unsettled) == list(range(4, 11))
    state.settled.add(6)  # nacked meanwhile: settled, but never acked
    state.acking.update({4, 7})
    # 4..7 are settled now (5 acked alone before, 6 nacked): one merged ack up to 7.
    assert _frames(1, state) == ack_frame(1, 7, multiple=True)
    assert list(state.unsettled) == [8, 9, 10]
    state.acking.update({8, 10})
    assert _frames(1, state) == ack_frame(1, 10, multiple=True)
    assert not state.unsettled and not state.settled and not state.acking


async def _consume(
    broker: Broker, count: int
) -> tuple[aio_pika.abc.AbstractChannel, aio_pika.abc.AbstractQueue, asyncio.Queue[Delivery]]:
    channel = await broker.open_channel(prefetch=200)
    # Not auto-deleted: it must outlive its consumer to be counted.
    queue = await channel.declare_queue(f"{broker.topology.namespace}.acks.{uuid.uuid4().hex}")
    for i in range(count):
        await channel.default_exchange.publish(aio_pika.Message(str(i).encode()), queue.name)
    return channel, queue, asyncio.Queue()


async def test_merged_acks_settle_every_message_and_never_one_being_requeued(
    mode_broker: Broker,
) -> None:
    channel, queue, deliveries = await _consume(mode_broker, 60)
    acks = new_acks(mode_broker.transport)

    async def on_message(delivery: Delivery) -> None:
        acks.delivered(delivery)
        deliveries.put_nowait(delivery)

    consumer = new_consumer(mode_broker.transport, mode_broker.connection, queue, on_message)
    await consumer.start()
    first = [await asyncio.wait_for(deliveries.get(), 10) for _ in range(60)]
    held, requeued = first[5], first[20]
    others = [d for d in first if d not in (held, requeued)]
    random.Random(7).shuffle(others)
    # Over several ticks, in random order, with the oldest delivery still unsettled and one
    # nacked in the middle: merged acks must neither cover the nack nor skip a delivery.
    for batch_start in range(0, len(others), 9):
        await asyncio.gather(*(acks.ack(d) for d in others[batch_start : batch_start + 9]))
        if batch_start == 27:
            await acks.nack(requeued)
        await asyncio.sleep(0)
    redelivered = await asyncio.wait_for(deliveries.get(), 10)
    assert redelivered.body == requeued.body  # it really went back to the queue
    await acks.ack(redelivered)
    await acks.ack(held)
    await asyncio.sleep(0)  # merged acks go out on the next tick
    # A round trip on the channel, behind the acks: the broker has taken them when it answers
    # (and an unknown or doubled ack would have closed the channel).
    await channel.set_qos(prefetch_count=200)
    underlay = await channel.get_underlay_channel()
    assert not underlay.is_closed
    await consumer.cancel()
    await channel.close()  # whatever was still unacked goes back to the queue now
    check = await mode_broker.open_channel()
    remaining = await check.declare_queue(queue.name, passive=True)
    assert remaining.declaration_result.message_count == 0
    assert deliveries.empty()
    assert sorted(int(d.body) for d in first) == list(range(60))
    await remaining.delete()

    # A message of a closed channel cannot be acked (the broker redelivers it instead).
    with pytest.raises(aiormq.exceptions.ChannelInvalidStateError):
        await acks.ack(first[0])
    await check.close()


async def test_a_consumer_consumes_again_after_a_reconnect_and_a_deleted_queue(
    module_namespace: str, mode: TransportMode
) -> None:
    name = f"tests-consumer-{uuid.uuid4().hex[:8]}"
    broker = Broker(AMQP_URL, Topology(module_namespace), connection_name=name, transport=mode)
    await broker.connect()
    try:
        channel, queue, _ = await _consume(broker, 0)
        received: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_message(message: Delivery) -> None:
            received.put_nowait(message.body)

        consumer = new_consumer(mode, broker.connection, queue, on_message, no_ack=True)
        await consumer.start()

        async def round_trip(body: bytes) -> None:
            # Published until it arrives: the channel and queue may still be on their way back
            # (a closed channel raises aiormq's ChannelInvalidStateError, a RuntimeError).
            for _ in range(100):
                try:
                    await channel.default_exchange.publish(aio_pika.Message(body), queue.name)
                    assert await asyncio.wait_for(received.get(), 0.2) == body
                    return
                except (TimeoutError, aiormq.exceptions.AMQPError, ConnectionError, RuntimeError):
                    await asyncio.sleep(0.05)
            raise AssertionError(f"{body!r} never arrived")

        await round_trip(b"before")
        await asyncio.to_thread(close_rabbit_connection, name)
        await round_trip(b"after a reconnect")
        # Deleted by someone else (an operator): the broker cancels the consumer.
        async with await aio_pika.connect(AMQP_URL) as other:
            await (await other.channel()).queue_delete(queue.name)
        await round_trip(b"after the queue was deleted")
        # Consumed once per message: a second copy of any of them (a redelivery, a second
        # consumer) would arrive before the next message, which round_trip checks is first.
        await round_trip(b"last")
        assert received.empty()
        await consumer.cancel()
        await queue.delete(if_unused=False, if_empty=False)
        await channel.close()
    finally:
        await broker.close()
