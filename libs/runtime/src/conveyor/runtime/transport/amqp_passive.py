"""Passive queue declares on a plain (not robust) channel of the broker's connection.

A passive ``queue.declare`` answers with a queue's ready-message and consumer counts. It must
not be replayed on reconnect as a robust channel replays declares, and a missing queue closes
the channel: so this opens a channel of aiormq's connection under aio-pika's robust one, and
opens another after each close.
"""

from __future__ import annotations

from typing import NamedTuple

import aio_pika.abc
import aiormq
import aiormq.abc


class QueueCounts(NamedTuple):
    messages: int
    consumers: int


class PassiveDeclares:
    """Counts of queues by name, from passive declares on a channel of its own."""

    def __init__(self) -> None:
        self._channel: aiormq.abc.AbstractChannel | None = None

    async def counts(
        self, connection: aio_pika.abc.AbstractConnection, queue: str
    ) -> QueueCounts | None:
        """``queue``'s counts, None if it does not exist; raises aiormq's errors (and
        ``ChannelInvalidStateError`` while ``connection`` reconnects)."""
        channel = await self._open(connection)
        try:
            declared = await channel.queue_declare(queue, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            self._channel = None  # closed by the broker: the next lookup opens another
            return None
        except BaseException:
            self._channel = None
            raise
        return QueueCounts(declared.message_count or 0, declared.consumer_count or 0)

    async def _open(
        self, connection: aio_pika.abc.AbstractConnection
    ) -> aiormq.abc.AbstractChannel:
        if self._channel is None or self._channel.is_closed:
            transport = connection.transport
            if transport is None:  # reconnecting
                raise aiormq.exceptions.ChannelInvalidStateError("the connection is reconnecting")
            self._channel = await transport.connection.channel()
        return self._channel

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            await channel.close()
