"""Event publishes on the event channel (no confirms, transient), fast or plain.

Fast (``FastEventPublisher``): the events of one call are encoded by ``EventPublishEncoder``
and go out as one socket write, straight into aiormq's write queue: on a channel without
confirms a publish is just its frames, and aiormq's per-publish path (lock, timeout, a write
per message) cost more than the events themselves. Plain (``PlainEventPublisher``): aiormq's
public ``basic_publish``, one event after the other. Both keep the events of one call in order
and raise aiormq's errors when the channel is closed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

import aio_pika.abc
import aiormq
from aiormq.abc import ChannelFrame
from pamqp import commands as spec

from conveyor.runtime.transport.amqp_frames import EventPublishEncoder
from conveyor.runtime.transport.amqp_publish import BODY_FRAME_OVERHEAD, CONTENT_TYPE
from conveyor.runtime.transport.mode import TransportMode

Event = tuple[str, bytes, Mapping[str, Any]]
"""Routing key, body, headers."""

EVENT_MESSAGE_ID = "-"
"""Events need no message id of their own (nothing matches a return to them)."""


class EventPublisher(Protocol):
    async def publish(self, channel: aio_pika.abc.AbstractChannel, events: Sequence[Event]) -> None:
        """Write ``events`` to the exchange, in order, without waiting for the broker."""


def event_publisher(mode: TransportMode, exchange: str) -> EventPublisher:
    """The publisher of ``mode`` for events to ``exchange``."""
    if mode == "fast":
        return FastEventPublisher(exchange)
    return PlainEventPublisher(exchange)


async def _underlay(channel: aio_pika.abc.AbstractChannel) -> aiormq.Channel:
    if channel.is_closed:
        raise aiormq.exceptions.ChannelInvalidStateError("the event channel is closed")
    underlay = cast(aiormq.Channel, await channel.get_underlay_channel())
    if underlay.is_closed:
        raise aiormq.exceptions.ChannelInvalidStateError("the event channel is closed")
    return underlay


class PlainEventPublisher:
    def __init__(self, exchange: str) -> None:
        self._exchange = exchange

    async def publish(self, channel: aio_pika.abc.AbstractChannel, events: Sequence[Event]) -> None:
        underlay = await _underlay(channel)
        for routing_key, body, headers in events:
            properties = spec.Basic.Properties(
                content_type=CONTENT_TYPE,
                headers=dict(headers),
                delivery_mode=1,
                message_id=EVENT_MESSAGE_ID,
            )
            await underlay.basic_publish(
                body,
                exchange=self._exchange,
                routing_key=routing_key,
                properties=properties,
                wait=False,
            )


class FastEventPublisher:
    def __init__(self, exchange: str) -> None:
        self._exchange = exchange
        self._encoder: tuple[aiormq.Channel, EventPublishEncoder] | None = None
        """The event channel's encoder (its number and frame size), made again after a reconnect."""

    async def publish(self, channel: aio_pika.abc.AbstractChannel, events: Sequence[Event]) -> None:
        underlay = await _underlay(channel)
        if self._encoder is None or self._encoder[0] is not underlay:
            encoder = EventPublishEncoder(
                underlay.number,
                self._exchange,
                frame_max=underlay.max_content_size + BODY_FRAME_OVERHEAD,
                message_id=EVENT_MESSAGE_ID,
            )
            self._encoder = (underlay, encoder)
        encoder = self._encoder[1]
        payload = b"".join(encoder.publish(*event) for event in events)
        await underlay.write_queue.put(ChannelFrame(payload=payload, should_close=False))
