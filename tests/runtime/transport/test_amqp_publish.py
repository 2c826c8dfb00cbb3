"""Confirmed publishes, in both transport modes: the fast path's encoder writes pamqp's bytes, and
``Broker.publish`` keeps its guarantees on the real broker in either mode (confirms, nacks,
returns, a channel the broker closes, cancellation, aiormq's own publishes on the channel)."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import aio_pika
import aiormq
import pytest
from aiormq.abc import ChannelFrame
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from conveyor.contracts.topology import Topology
from conveyor.runtime.broker import Broker, BrokerUnavailableError
from conveyor.runtime.transport.amqp_frames import PublishEncoder
from conveyor.runtime.transport.mode import TransportMode
from tests.runtime.transport.test_amqp_frames import random_text
from tests.support.namespace import AMQP_URL

FRAME_MAX = 4096


def pamqp_publish(
    channel: int,
    exchange: str,
    routing_key: str,
    body: bytes,
    *,
    message_id: str,
    headers: dict[str, Any] | None,
    persistent: bool,
    priority: int | None,
    mandatory: bool,
    user_id: str | None = None,
) -> bytes:
    """The bytes aiormq's ``basic_publish`` wrote for the same publish."""
    properties = spec.Basic.Properties(
        headers=headers,
        content_type="application/json",
        delivery_mode=2 if persistent else 1,
        priority=priority,
        message_id=message_id,
        user_id=user_id,
    )
    chunk = FRAME_MAX - 8
    frames: list[Any] = [
        spec.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=mandatory),
        ContentHeader(properties=properties, body_size=len(body)),
        *(ContentBody(body[i : i + chunk]) for i in range(0, len(body), chunk)),
    ]
    return ChannelFrame.marshall(channel_number=channel, frames=frames).payload


TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CASES: list[dict[str, Any]] = [
    # what the gateway publishes for a job
    {
        "exchange": "ns.jobs",
        "routing_key": "job.diagnostics",
        "body": b'{"job_id":"j1"}',
        "message_id": "j1",
        "headers": {"traceparent": TRACEPARENT},
        "persistent": True,
        "priority": 5,
        "mandatory": True,
    },
    # a control command: transient, not mandatory, no headers, no priority
    {
        "exchange": "ns.control",
        "routing_key": "control.cancel_job",
        "body": b"{}",
        "message_id": uuid.uuid4().hex,
        "headers": None,
        "persistent": False,
        "priority": None,
        "mandatory": False,
    },
    # a parked or dead-lettered message: the default exchange, headers of every type, priority 0
    {
        "exchange": "",
        "routing_key": "ns.parked.export",
        "body": b"x" * (3 * FRAME_MAX + 5),
        "message_id": "é" * 20,
        "headers": {
            "x-death": [{"count": 2, "reason": "rejected", "queue": "q"}],
            "n": 7,
            "big": 2**40,
            "flag": True,
            "none": None,
            "f": 1.5,
            "t": {"a": "b"},
            "s": "ñ",
        },
        "persistent": True,
        "priority": 0,
        "mandatory": True,
    },
    # an empty body has no body frame; empty headers are an empty table
    {
        "exchange": "ns.delays",
        "routing_key": "job.export",
        "body": b"",
        "message_id": "m",
        "headers": {},
        "persistent": True,
        "priority": 255,
        "mandatory": True,
    },
    # exactly one full body frame
    {
        "exchange": "a-b_c.d:e",
        "routing_key": "",
        "body": b"y" * (FRAME_MAX - 8),
        "message_id": "m" * 255,
        "headers": {"z": "1", "a": "2"},
        "persistent": False,
        "priority": 9,
        "mandatory": False,
    },
]


@pytest.mark.parametrize("user_id", [None, "svc-gateway"])
@pytest.mark.parametrize("case", CASES)
def test_a_job_publish_is_written_as_pamqp_writes_it(
    case: dict[str, Any], user_id: str | None
) -> None:
    encoder = PublishEncoder(5, frame_max=FRAME_MAX, user_id=user_id)
    args = dict(case)
    exchange, routing_key, body = args.pop("exchange"), args.pop("routing_key"), args.pop("body")
    assert encoder.publish(exchange, routing_key, body, **args) == pamqp_publish(
        5, exchange, routing_key, body, user_id=user_id, **args
    )


def test_random_publishes_are_written_as_pamqp_writes_them() -> None:
    rng = random.Random(20261124)
    values: list[Any] = [1, -3, 2**33, True, False, None, 0.25, "é", {"k": "v"}, ["a", 1]]
    for _ in range(500):
        channel = rng.randint(1, 2047)
        user_id = rng.choice([None, random_text(rng, 30)])
        encoder = PublishEncoder(channel, frame_max=FRAME_MAX, user_id=user_id)
        exchange = random_text(rng, 40, alphabet="abcXYZ019-._:")
        routing_key = random_text(rng, 80)
        body = rng.randbytes(rng.choice([0, 1, 300, FRAME_MAX - 9, FRAME_MAX - 8, 3 * FRAME_MAX]))
        headers: dict[str, Any] | None = rng.choice(
            [
                None,
                {
                    random_text(rng, 20) or "k": random_text(rng, 120)
                    for _ in range(rng.randint(0, 4))
                },
                {random_text(rng, 20) or "k": rng.choice(values) for _ in range(rng.randint(1, 4))},
            ]
        )
        options: dict[str, Any] = {
            "message_id": random_text(rng, 60) or uuid.uuid4().hex,
            "headers": headers,
            "persistent": rng.random() < 0.5,
            "priority": rng.choice([None, 0, rng.randint(1, 255)]),
            "mandatory": rng.random() < 0.5,
        }
        assert encoder.publish(exchange, routing_key, body, **options) == pamqp_publish(
            channel, exchange, routing_key, body, user_id=user_id, **options
        ), (exchange, routing_key, options, user_id)


@pytest.mark.parametrize("exchange", ["a" * 128, "no;semicolons", "ünïcode"])
def test_an_exchange_name_pamqp_refuses_is_refused(exchange: str) -> None:
    with pytest.raises(ValueError, match="exchange"):
        spec.Basic.Publish(exchange=exchange)
    with pytest.raises(ValueError, match="exchange name"):
        PublishEncoder(1, frame_max=FRAME_MAX).publish(exchange, "k", b"", message_id="m")


# -- on the real broker ------------------------------------------------------------------------


async def _bound_queue(broker: Broker, routing_key: str) -> tuple[Any, Any]:
    """A channel and an exclusive queue bound to ``jobs`` with ``routing_key``."""
    channel = await broker.open_channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(broker.topology.jobs, routing_key)
    return channel, queue


async def _count(broker: Broker, name: str) -> int:
    channel = await broker.open_channel()
    try:
        queue = await channel.declare_queue(name, passive=True)
        count = queue.declaration_result.message_count
        assert count is not None
        return count
    finally:
        await channel.close()


async def test_a_confirmed_publish_arrives_with_all_its_properties(mode_broker: Broker) -> None:
    channel, queue = await _bound_queue(mode_broker, "job.frames-props")
    big = random.Random(1).randbytes(300_000)  # split in body frames of the broker's frame_max
    headers = {"traceparent": TRACEPARENT, "n": 7, "flag": True, "nested": {"a": "b"}}

    await mode_broker.publish(
        mode_broker.topology.jobs,
        "job.frames-props",
        b'{"job":1}',
        headers=headers,
        priority=7,
        message_id="job-1",
    )
    await mode_broker.publish(
        mode_broker.topology.jobs, "job.frames-props", big, persistent=False, mandatory=False
    )

    # aiormq's view, not aio-pika's (which reads a missing priority as 0)
    underlay = await channel.get_underlay_channel()
    first = await underlay.basic_get(queue.name, no_ack=True, timeout=5)
    assert first.body == b'{"job":1}'
    assert first.routing_key == "job.frames-props"
    assert first.header.properties == spec.Basic.Properties(
        content_type="application/json",
        delivery_mode=2,
        priority=7,
        message_id="job-1",
        headers=headers,
        user_id="guest",  # the connection's user, which RabbitMQ checked
    )
    second = await underlay.basic_get(queue.name, no_ack=True, timeout=5)
    assert second.body == big
    properties = second.header.properties
    assert (properties.delivery_mode, properties.priority, properties.headers) == (1, None, None)
    # None given: one was drawn, as aiormq did, to match a return to its confirm.
    assert properties.message_id is not None
    assert len(properties.message_id) == 32
    await channel.close()


async def test_an_unroutable_mandatory_publish_raises(mode_broker: Broker) -> None:
    jobs = mode_broker.topology.jobs
    with pytest.raises(BrokerUnavailableError) as raised:
        await mode_broker.publish(jobs, "job.frames-nobody", b"{}", message_id="lost")
    assert isinstance(raised.value.__cause__, aiormq.exceptions.PublishError)
    # Not mandatory: dropped by the broker and confirmed all the same.
    await mode_broker.publish(jobs, "job.frames-nobody", b"{}", mandatory=False)
    # The channel still works, and the return's bookkeeping is gone.
    channel, queue = await _bound_queue(mode_broker, "job.frames-after-return")
    await mode_broker.publish(jobs, "job.frames-after-return", b"{}", message_id="lost")
    assert (await queue.get(no_ack=True, timeout=5)).message_id == "lost"
    underlay = await mode_broker._channel().get_underlay_channel()
    assert isinstance(underlay, aiormq.Channel)
    assert "lost" not in underlay.message_id_delivery_tag
    await channel.close()


async def test_a_publish_the_broker_nacks_raises(mode_broker: Broker) -> None:
    """A full queue that rejects publishes makes the broker nack: the publish raises at once."""
    channel = await mode_broker.open_channel()
    name = f"{mode_broker.topology.namespace}.full.{uuid.uuid4().hex[:8]}"
    queue = await channel.declare_queue(
        name, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
    )
    await queue.bind(mode_broker.topology.jobs, "job.frames-full")
    with pytest.raises(BrokerUnavailableError) as raised:
        await mode_broker.publish(mode_broker.topology.jobs, "job.frames-full", b"{}")
    cause = raised.value.__cause__
    assert isinstance(cause, aiormq.exceptions.DeliveryError)
    assert not isinstance(cause, aiormq.exceptions.PublishError)  # a nack, not a return
    assert isinstance(cause.frame, spec.Basic.Nack)
    # The channel still confirms the next publish.
    await mode_broker.publish(
        mode_broker.topology.jobs, "job.frames-nobody", b"{}", mandatory=False
    )
    await queue.delete()
    await channel.close()


async def test_concurrent_publishes_are_all_confirmed_beside_aiormqs_own(
    mode_broker: Broker,
) -> None:
    """Both paths share the channel's delivery tags: a drift would confirm the wrong futures,
    or leave some unconfirmed until the timeout."""
    channel, queue = await _bound_queue(mode_broker, "job.frames-many")
    jobs = mode_broker.topology.jobs
    underlay = await mode_broker._channel().get_underlay_channel()
    assert isinstance(underlay, aiormq.Channel)

    async def ours(i: int) -> None:
        # Every tenth is unroutable: its return must reach this publish, not another.
        if i % 10 != 3:
            await mode_broker.publish(jobs, "job.frames-many", b"{}", message_id=f"m{i}")
            return
        with pytest.raises(BrokerUnavailableError) as raised:
            await mode_broker.publish(jobs, "job.frames-nobody", b"{}", message_id=f"m{i}")
        returned = raised.value.__cause__
        assert isinstance(returned, aiormq.exceptions.PublishError)
        assert returned.message.header.properties.message_id == f"m{i}"

    async def aiormqs(i: int) -> None:
        result = await underlay.basic_publish(
            b"{}",
            exchange=jobs,
            routing_key="job.frames-many",
            properties=spec.Basic.Properties(message_id=f"a{i}"),
            mandatory=True,
            timeout=5,
        )
        assert isinstance(result, spec.Basic.Ack)

    await asyncio.wait_for(
        asyncio.gather(*(ours(i) if i % 4 else aiormqs(i) for i in range(2000))), 30
    )
    routed = sum(1 for i in range(2000) if not (i % 4 and i % 10 == 3))
    assert await _count(mode_broker, queue.name) == routed
    assert not underlay.message_id_delivery_tag
    await channel.close()


async def test_cancelled_publishes_leave_the_delivery_tags_in_step(mode_broker: Broker) -> None:
    """Cancelled while waiting for the lock, the full write queue or the confirm: only a publish
    whose frames were written keeps its tag, so the tags still count what the broker got."""
    channel, queue = await _bound_queue(mode_broker, "job.frames-cancelled")
    jobs = mode_broker.topology.jobs
    underlay = await mode_broker._channel().get_underlay_channel()
    assert isinstance(underlay, aiormq.Channel)
    tags_before = underlay.delivery_tag
    count_before = await _count(mode_broker, queue.name)

    for ticks in range(8):
        tasks = [
            asyncio.create_task(mode_broker.publish(jobs, "job.frames-cancelled", b"{}"))
            for _ in range(200)
        ]
        # After a tick, ten publishes filled the connection's write queue, one waits to put
        # its frames in it holding the channel's lock, the rest wait for the lock.
        for _ in range(ticks):
            await asyncio.sleep(0)
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(r is None or isinstance(r, asyncio.CancelledError) for r in results)
    # The channel still confirms publishes (a drift would leave these unconfirmed).
    await asyncio.wait_for(
        asyncio.gather(
            *(mode_broker.publish(jobs, "job.frames-cancelled", b"{}") for _ in range(100))
        ),
        10,
    )

    written = underlay.delivery_tag - tags_before
    assert await _count(mode_broker, queue.name) - count_before == written
    assert not underlay.message_id_delivery_tag
    await channel.close()


async def test_publishes_on_a_channel_the_broker_closes_raise_at_once(
    module_namespace: str, mode: TransportMode
) -> None:
    """The broker closes the channel over a publish to a deleted exchange: that publish and the
    ones written behind it fail with ``BrokerUnavailableError`` now, not at their timeout."""
    topology = Topology(module_namespace)
    broker = Broker(
        AMQP_URL, topology, connection_name="tests-frames-close", publish_timeout=60, transport=mode
    )
    await broker.connect()
    try:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            other = await connection.channel()
            await other.exchange_delete(topology.control)

        results = await asyncio.wait_for(
            asyncio.gather(
                broker.publish(topology.control, "control.x", b"{}"),
                *(broker.publish(topology.jobs, "job.frames-x", b"{}") for _ in range(50)),
                return_exceptions=True,
            ),
            10,
        )

        assert all(isinstance(r, BrokerUnavailableError) for r in results), results
        assert isinstance(results[0].__cause__, aiormq.exceptions.ChannelNotFoundEntity)
        assert not any(isinstance(r.__cause__, TimeoutError) for r in results if r is not None)
    finally:
        await broker.close()


async def test_a_publish_on_a_closed_channel_raises(
    module_namespace: str, mode: TransportMode
) -> None:
    broker = Broker(
        AMQP_URL, Topology(module_namespace), connection_name="tests-frames-closed", transport=mode
    )
    await broker.connect()
    try:
        await broker._channel().close()
        with pytest.raises(BrokerUnavailableError):
            await broker.publish(broker.topology.jobs, "job.frames-x", b"{}")
    finally:
        await broker.close()
