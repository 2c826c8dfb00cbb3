"""Confirmed publishes on the publishing channel, fast or plain.

Fast (``FastConfirmedPublisher``): the frames are encoded by ``PublishEncoder`` and written by
``_publish_confirmed`` into aiormq's own confirm bookkeeping, not by ``basic_publish`` (most
of whose cost is pamqp's generic marshalling, a Countdown and a closure per call). Plain
(``PlainConfirmedPublisher``): aiormq's public ``basic_publish`` with the same properties.
Both raise aiormq's errors (``PublishError`` for a returned mandatory message,
``DeliveryError`` for a nack, the channel's close reason, ``ChannelInvalidStateError``) and
``TimeoutError`` once ``within`` seconds pass; the broker maps them to
``BrokerUnavailableError``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any, Protocol, cast

import aio_pika.abc
import aiormq
from aiormq.abc import ChannelFrame
from pamqp import commands as spec

from conveyor.runtime.transport.amqp_frames import PublishEncoder
from conveyor.runtime.transport.mode import TransportMode

BODY_FRAME_OVERHEAD = 8
"""A content-body frame's bytes around its payload (aiormq's ``max_content_size`` is
``frame_max`` less these)."""

CONTENT_TYPE = "application/json"


class PublishProgress:
    """How far one publish got: once its frames are (or may be) on their way, a failure
    leaves it open whether the broker has the message."""

    __slots__ = ("frames_queued",)

    def __init__(self) -> None:
        self.frames_queued = False


def is_definite_refusal(exc: BaseException) -> bool:
    """Whether the broker answered "not taken": a nack, or (``PublishError``, a subclass) a
    mandatory message it could not route."""
    return isinstance(exc, aiormq.exceptions.DeliveryError)


class ConfirmedPublisher(Protocol):
    async def publish(
        self,
        channel: aio_pika.abc.AbstractChannel,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        headers: Mapping[str, Any] | None,
        persistent: bool,
        priority: int | None,
        mandatory: bool,
        within: float,
        progress: PublishProgress,
    ) -> None:
        """Publish on ``channel`` (confirming) and wait for the broker's confirm; sets
        ``progress.frames_queued`` once the broker may see the publish."""


def confirmed_publisher(mode: TransportMode, *, user_id: str) -> ConfirmedPublisher:
    """The publisher of ``mode``; ``user_id`` is set on every publish (RabbitMQ checks it)."""
    if mode == "fast":
        return FastConfirmedPublisher(user_id=user_id)
    return PlainConfirmedPublisher(user_id=user_id)


async def _underlay(channel: aio_pika.abc.AbstractChannel) -> aiormq.Channel:
    if channel.is_closed:
        raise aiormq.exceptions.ChannelInvalidStateError("the channel is closed")
    return cast(aiormq.Channel, await channel.get_underlay_channel())


class PlainConfirmedPublisher:
    """aiormq's ``basic_publish``, waiting for the confirm (not for the socket to drain)."""

    def __init__(self, *, user_id: str) -> None:
        self._user_id = user_id

    async def publish(
        self,
        channel: aio_pika.abc.AbstractChannel,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        headers: Mapping[str, Any] | None,
        persistent: bool,
        priority: int | None,
        mandatory: bool,
        within: float,
        progress: PublishProgress,
    ) -> None:
        underlay = await _underlay(channel)
        properties = spec.Basic.Properties(
            content_type=CONTENT_TYPE,
            headers=dict(headers) if headers is not None else None,
            delivery_mode=2 if persistent else 1,
            priority=priority,
            message_id=message_id,
            user_id=self._user_id,
        )
        # basic_publish keeps the cancellation in this task and rolls back an unsent publish.
        # Whether it wrote the frames before failing is not told: assume it may have.
        progress.frames_queued = True
        async with asyncio.timeout(within):
            await underlay.basic_publish(
                body,
                exchange=exchange,
                routing_key=routing_key,
                properties=properties,
                mandatory=mandatory,
                wait=False,
            )


class FastConfirmedPublisher:
    """Hand-encoded frames in aiormq's confirm bookkeeping (see ``_publish_confirmed``)."""

    def __init__(self, *, user_id: str) -> None:
        self._user_id = user_id
        self._encoder: tuple[aiormq.Channel, PublishEncoder] | None = None
        """The publishing channel's encoder, made again after a reconnect."""

    def _encoder_of(self, channel: aiormq.Channel) -> PublishEncoder:
        if self._encoder is None or self._encoder[0] is not channel:
            encoder = PublishEncoder(
                channel.number,
                frame_max=channel.max_content_size + BODY_FRAME_OVERHEAD,
                user_id=self._user_id,
            )
            self._encoder = (channel, encoder)
        return self._encoder[1]

    async def publish(
        self,
        channel: aio_pika.abc.AbstractChannel,
        exchange: str,
        routing_key: str,
        body: bytes,
        *,
        message_id: str,
        headers: Mapping[str, Any] | None,
        persistent: bool,
        priority: int | None,
        mandatory: bool,
        within: float,
        progress: PublishProgress,
    ) -> None:
        underlay = await _underlay(channel)
        frames = self._encoder_of(underlay).publish(
            exchange,
            routing_key,
            body,
            message_id=message_id,
            headers=headers,
            persistent=persistent,
            priority=priority,
            mandatory=mandatory,
        )
        # In this task, not wait_for's: see _publish_confirmed on cancellation.
        async with asyncio.timeout(within):
            await _publish_confirmed(underlay, frames, message_id, progress)


async def _publish_confirmed(
    channel: aiormq.Channel, frames: bytes, message_id: str, progress: PublishProgress
) -> None:
    """Write one publish's encoded frames on a confirming channel; wait for the confirm.

    What aiormq's ``Channel.basic_publish`` (7.2) does for a confirmed publish with
    ``wait=False``, minus the marshalling, the Countdown and a closure per call. It works on the
    same channel attributes under the same lock, so aiormq's own publishes may share the
    channel, and its reader settles both (ack, nack, a mandatory message's return, the
    channel's close). The caller bounds it with ``asyncio.timeout``, in its own task: a
    cancellation must reach the write below in the task that can roll it back.
    """
    async with channel._raise_on_channel_close():
        async with channel.lock:
            # The broker numbers publishes in the order their frames arrive, so the tag is
            # taken and the frames queued under one lock (the write queue is bounded).
            channel.delivery_tag += 1
            delivery_tag = channel.delivery_tag
            confirmation = channel.create_future()  # the channel's close rejects it
            channel.confirmations[delivery_tag] = confirmation
            channel.message_id_delivery_tag[message_id] = delivery_tag
            try:
                await channel.write_queue.put(ChannelFrame(payload=frames, should_close=False))
            except BaseException:
                # Cancelled or timed out while the queue was full: the frames were not queued
                # and the broker never sees this publish, so its tag is reused. Once queued
                # they go out, and the confirmation stays registered until the broker answers.
                channel.delivery_tag -= 1
                channel.confirmations.pop(delivery_tag, None)
                _forget_message_id(channel.message_id_delivery_tag, message_id, delivery_tag)
                confirmation.cancel()
                raise
            progress.frames_queued = True
            confirmation.add_done_callback(
                functools.partial(
                    _forget_message_id, channel.message_id_delivery_tag, message_id, delivery_tag
                )
            )
        await confirmation


def _forget_message_id(
    delivery_tags: dict[str, int], message_id: str, delivery_tag: int, _: object = None
) -> None:
    """Drop ``message_id``'s entry unless a later publish with the same id took it over."""
    if delivery_tags.get(message_id) == delivery_tag:
        del delivery_tags[message_id]
