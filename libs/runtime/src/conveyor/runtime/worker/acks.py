"""Acknowledges job messages, sending the acks made in one event-loop tick as one write.

A worker with many jobs in flight finishes several per loop iteration. aio-pika's
``IncomingMessage.ack`` writes each ack on its own and waits for the socket to drain, which
costs a socket write and a few task switches per job; here the acks of a tick share one
write. Acks keep their order with every later frame: all go through the connection's one
write queue.
"""

from __future__ import annotations

import asyncio
import logging

import aio_pika.abc
import aiormq
from aiormq.abc import ChannelFrame
from pamqp import commands as spec

log = logging.getLogger(__name__)


class AckBatcher:
    """Collects acks per channel and writes them on the next tick."""

    def __init__(self) -> None:
        self._pending: dict[aiormq.Channel, list[int]] = {}
        self._scheduled = False
        self._writes: set[asyncio.Task[None]] = set()

    async def ack(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        """Ack ``message`` on the channel that delivered it (its delivery tag is that channel's).

        Raises aiormq's ``ChannelInvalidStateError`` when that channel is closed: the broker then
        redelivers the message, like after any lost ack.
        """
        channel = message.channel  # raises if closed
        tag = message.delivery_tag
        if tag is None:
            raise ValueError("a message consumed with no_ack cannot be acked")
        assert isinstance(channel, aiormq.Channel)
        self._pending.setdefault(channel, []).append(tag)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        for channel, tags in pending.items():
            if channel.is_closed:
                # The broker requeues what a closed channel had not acked; the record's state
                # makes the redelivery a no-op.
                log.warning("%d ack(s) lost with their channel; expecting redeliveries", len(tags))
                continue
            frame = ChannelFrame.marshall(
                channel_number=channel.number,
                frames=[spec.Basic.Ack(delivery_tag=tag) for tag in tags],
            )
            try:
                channel.write_queue.put_nowait(frame)
            except asyncio.QueueFull:  # the writer is behind: wait for room (acks commute)
                task = asyncio.create_task(channel.write_queue.put(frame))
                self._writes.add(task)
                task.add_done_callback(self._writes.discard)
