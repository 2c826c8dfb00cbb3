"""A load generator's publisher (bench only): pre-encoded publishes, confirms counted by tag.

aiormq's ``basic_publish`` costs the load generator about as much CPU per job as a third of
the worker's: pamqp marshalling per message, a future per message, and on every multiple
ack a scan of all pending confirmations with a callback per tag. On a machine whose two cores
the worker, RabbitMQ and Redis share, that CPU is taken from the system under test. Here the
frames are encoded before the clock starts, a window of them goes out as one write, and the
confirms are counted by delivery tag. The bench owns the channel: nothing else publishes on it.
It lives here because it writes aiormq's private state (its confirm handler, the delivery tag,
the write queue); no service uses it, so it has no plain fallback.
"""

from __future__ import annotations

import asyncio

import aiormq
from aiormq.abc import ChannelFrame
from pamqp import commands as spec
from pamqp.base import Frame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader


def publish_frames(channel: aiormq.Channel, exchange: str, key: str, body: bytes) -> bytes:
    """One persistent, confirmed publish of ``body`` as the bytes aiormq would write."""
    # user_id: workers accept jobs only from broker users allowed to submit for their owners.
    properties = spec.Basic.Properties(
        delivery_mode=2,
        priority=1,
        content_type="application/json",
        user_id=channel.connection.url.user or "guest",
    )
    frames: list[Frame | ContentHeader | ContentBody] = [
        spec.Basic.Publish(exchange=exchange, routing_key=key),
        ContentHeader(properties=properties, body_size=len(body)),
        ContentBody(body),
    ]
    assert len(body) <= channel.max_content_size
    return ChannelFrame.marshall(channel_number=channel.number, frames=frames).payload


class LeanPublisher:
    """Publishes pre-encoded messages on a confirming channel and waits for their confirms."""

    def __init__(self, channel: aiormq.Channel) -> None:
        if not channel.publisher_confirms:
            raise ValueError("the channel must have publisher confirms on")
        self.channel = channel
        self.confirmed = 0
        """Every delivery tag up to this one is confirmed."""
        self._singles: set[int] = set()
        self._progress = asyncio.Event()
        channel._on_confirm_frame = self._on_confirm  # type: ignore[method-assign]

    async def publish(self, payloads: list[bytes], window: int) -> None:
        """Publish ``payloads`` (from ``publish_frames``), ``window`` at a time in flight."""
        for start in range(0, len(payloads), window):
            chunk = payloads[start : start + window]
            self.channel.delivery_tag += len(chunk)  # aiormq's own count stays right
            last = self.channel.delivery_tag
            await self.channel.write_queue.put(
                ChannelFrame(payload=b"".join(chunk), should_close=False)
            )
            while self.confirmed < last:
                self._progress.clear()
                await asyncio.wait_for(self._progress.wait(), timeout=30)

    async def _on_confirm(
        self, frame: spec.Basic.Ack | spec.Basic.Nack | spec.Basic.Reject
    ) -> None:
        if not isinstance(frame, spec.Basic.Ack):
            raise RuntimeError(f"RabbitMQ refused publish {frame.delivery_tag}")
        if frame.multiple:
            self.confirmed = max(self.confirmed, frame.delivery_tag)
            self._singles = {tag for tag in self._singles if tag > self.confirmed}
        else:
            self._singles.add(frame.delivery_tag)
        while self.confirmed + 1 in self._singles:
            self.confirmed += 1
            self._singles.discard(self.confirmed)
        self._progress.set()
