"""``Delivery``: one consumed message as Conveyor's consumers see it, from either mode.

In fast mode it is built straight from aiormq's ``DeliveredMessage``: aio-pika wraps every
delivery in an ``IncomingMessage`` (a dozen attributes copied, a weak reference, its own task
to run the callback), and the worker reads five fields and settles the message through
``AckBatcher``. In plain mode it is built from aio-pika's ``IncomingMessage``, kept to settle
it with ``ack()`` and ``nack()``.
"""

from __future__ import annotations

from typing import Any

import aio_pika.abc
import aiormq
import aiormq.abc
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec


class Delivery:
    """The fields of a delivered message that consumers use, and the channel that owes its ack.

    ``delivery_tag`` is the channel's: an ack or nack must go to ``channel``, and a message
    whose channel has closed is redelivered by the broker (no ack can reach it any more).
    """

    __slots__ = (
        "body",
        "channel",
        "delivery_tag",
        "headers",
        "incoming",
        "message_id",
        "priority",
        "routing_key",
        "user_id",
    )

    def __init__(
        self,
        *,
        body: bytes,
        channel: aiormq.abc.AbstractChannel,
        delivery_tag: int,
        routing_key: str,
        headers: dict[str, Any],
        message_id: str | None,
        priority: int | None,
        user_id: str | None,
        incoming: aio_pika.abc.AbstractIncomingMessage | None = None,
    ) -> None:
        self.body = body
        self.channel = channel
        self.delivery_tag = delivery_tag
        self.routing_key = routing_key
        self.headers = headers
        self.message_id = message_id
        self.priority = priority
        self.user_id = user_id
        """The publishing broker user; RabbitMQ refuses a publish that claims another."""
        self.incoming = incoming
        """aio-pika's message (plain mode), which settles it; None in fast mode."""

    @classmethod
    def of_aiormq(cls, message: DeliveredMessage) -> Delivery:
        properties = message.header.properties
        delivery = message.delivery
        assert isinstance(delivery, spec.Basic.Deliver)
        assert delivery.delivery_tag is not None
        return cls(
            body=message.body,
            channel=message.channel,
            delivery_tag=delivery.delivery_tag,
            routing_key=message.routing_key or "",
            headers=properties.headers or {},
            message_id=properties.message_id,
            priority=properties.priority,
            user_id=properties.user_id,
        )

    @classmethod
    def of_aio_pika(cls, message: aio_pika.abc.AbstractIncomingMessage) -> Delivery:
        assert message.delivery_tag is not None
        return cls(
            body=message.body,
            channel=message.channel,
            delivery_tag=message.delivery_tag,
            routing_key=message.routing_key or "",
            headers=dict(message.headers),
            message_id=message.message_id,
            priority=message.priority,
            user_id=message.user_id,
            incoming=message,
        )
