"""Live job events for this gateway instance: one exclusive queue, bound per watched owner.

The queue is bound to ``job.<owner>.#`` while at least one subscription here watches that
owner, so a replica only receives the events its connected users need. Messages are consumed
without acks: a lost one is recovered from the Redis history by the session's gap check, and
after a (re)connection every session is told to catch up from Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import aio_pika.abc
import msgspec

from conveyor.contracts.topology import owner_events_binding
from conveyor.gateway.ws.aiohttp_bridge import text_frame
from conveyor.gateway.ws.protocol import EventMessage, encoder, stream_position
from conveyor.runtime.broker import Broker
from conveyor.runtime.lifecycle import HEADER_CURSOR, HEADER_PREV_CURSOR
from conveyor.runtime.transport.amqp_consume import Consumer, new_consumer
from conveyor.runtime.transport.amqp_delivery import Delivery

log = logging.getLogger(__name__)

BIND_TIMEOUT_SECONDS = 5.0
"""A bind must not stall every subscription of the instance while RabbitMQ struggles."""


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """A job event as it came off the exchange."""

    owner: str
    job_id: str
    seq: int
    cursor: str | None
    prev_cursor: str | None
    body: bytes
    position: tuple[int, int] | None = None
    """``cursor`` as an orderable pair, parsed once for every connection watching it.

    None exactly when ``cursor`` is None (an unparsable cursor is dropped on intake)."""
    prev_position: tuple[int, int] | None = None
    _frames: dict[bool, bytes] = field(default_factory=dict, compare=False, repr=False)
    _wire: dict[bool, bytes] = field(default_factory=dict, compare=False, repr=False)

    def frame(self, *, for_job: bool) -> bytes:
        """The ``event`` message for a job (or an "all") subscription, encoded once.

        Every connection watching the event sends the same bytes: with many watchers the
        per-connection cost is the socket write alone.
        """
        frame = self._frames.get(for_job)
        if frame is None:
            message = (
                EventMessage(
                    job_id=self.job_id,
                    seq=self.seq,
                    cursor=self.cursor,
                    event=msgspec.Raw(self.body),
                )
                if for_job
                else EventMessage(cursor=self.cursor, event=msgspec.Raw(self.body))
            )
            frame = self._frames[for_job] = encoder.encode(message)
        return frame

    def wire(self, *, for_job: bool) -> bytes:
        """``frame()`` as a whole WebSocket text frame, header included, built once."""
        wire = self._wire.get(for_job)
        if wire is None:
            wire = self._wire[for_job] = text_frame(self.frame(for_job=for_job))
        return wire


def _position(cursor: str | None) -> tuple[int, int] | None:
    if cursor is None:
        return None
    try:
        return stream_position(cursor)
    except ValueError:
        return None


class Resync:
    """The live feed may have missed events: catch every subscription up from Redis."""


RESYNC = Resync()


class Listener(Protocol):
    def offer(self, item: LiveEvent | Resync) -> None:
        """Take an item without awaiting (keeps the exchange's order per listener)."""


class _EventHead(msgspec.Struct):
    job_id: str
    owner: str
    seq: int


_head_decoder = msgspec.json.Decoder(_EventHead)


def _header(headers: dict[str, Any], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class EventIntake:
    """The instance's event queue, its owner bindings, and fan-out to listening sessions."""

    def __init__(self, broker: Broker, *, instance: str) -> None:
        self._broker = broker
        self._instance = instance
        self._listeners: dict[str, Counter[Listener]] = {}
        # Serialises bind/unbind with the bookkeeping, so a release racing an acquire can
        # never leave an owner unbound while someone still listens.
        self._lock = asyncio.Lock()
        self._queue: aio_pika.abc.AbstractQueue | None = None
        self._consumer: Consumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        """Set once the queue consumes (tests wait for it)."""
        self.received = 0
        """Job events this instance's queue delivered: only those of owners watched here."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-event-intake")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def owners(self) -> frozenset[str]:
        """Owners whose events this instance's queue is bound to (or is binding)."""
        return frozenset(self._listeners)

    # -- subscriptions -------------------------------------------------------------------------

    async def acquire(self, owner: str, listener: Listener) -> None:
        """Route ``owner``'s events to ``listener`` (binding the owner on first use).

        When this returns, every event announced from now on reaches the listener.
        """
        async with self._lock:
            first = owner not in self._listeners
            self._listeners.setdefault(owner, Counter())[listener] += 1
            if first:
                await self._bind(owner)

    async def release(self, owner: str, listener: Listener, *, all_of_it: bool = False) -> None:
        async with self._lock:
            counts = self._listeners.get(owner)
            if counts is None or listener not in counts:
                return
            counts[listener] = 0 if all_of_it else counts[listener] - 1
            if counts[listener] <= 0:
                del counts[listener]
            if not counts:
                # Forgotten only once unbound, so ``owners`` never lists fewer than are bound.
                await self._unbind(owner)
                del self._listeners[owner]

    async def _bind(self, owner: str) -> None:
        if self._queue is None:
            return  # bound together with the others when the queue is declared
        try:
            await self._bind_now(owner)
        except Exception as exc:
            # The sessions still get history; after the reconnection every owner is rebound
            # and every session catches up.
            log.warning("could not bind events of %s: %s", owner, exc)

    async def _bind_now(self, owner: str) -> None:
        assert self._queue is not None
        kwargs: dict[str, Any] = {"timeout": BIND_TIMEOUT_SECONDS}
        if isinstance(self._queue, aio_pika.abc.AbstractRobustQueue):
            # We rebind every watched owner after a reopen ourselves. aio-pika's own record
            # of bindings makes each unbind scan all of them: quadratic when thousands of
            # users leave at once.
            kwargs["robust"] = False
        await self._queue.bind(self._broker.topology.events, owner_events_binding(owner), **kwargs)

    async def _rebind_all(self) -> None:
        async with self._lock:
            for owner in self._listeners:
                await self._bind(owner)

    async def _unbind(self, owner: str) -> None:
        if self._queue is None:
            return
        try:
            await self._queue.unbind(
                self._broker.topology.events,
                owner_events_binding(owner),
                timeout=BIND_TIMEOUT_SECONDS,
            )
        except Exception as exc:  # a stale binding only brings events nobody listens to
            log.warning("could not unbind events of %s: %s", owner, exc)

    # -- consuming -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._broker.wait_connected()
            try:
                await self._declare_and_consume()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event queue not ready, retrying: %s", exc)
                await asyncio.sleep(1.0)

    async def _declare_and_consume(self) -> None:
        channel = await self._broker.open_channel()
        async with self._lock:
            queue = await self._broker.declare_instance_queue(
                channel,
                "gateway",
                self._instance,
                exchange=self._broker.topology.events,
                bindings=tuple(owner_events_binding(owner) for owner in self._listeners),
            )
            # The transport's consumer consumes again after a reopen or a reconnect; the
            # callbacks below also rebind every owner and resynchronise.
            self._consumer = new_consumer(
                self._broker.transport,
                self._broker.connection,
                queue,
                self._on_message,
                no_ack=True,
            )
            await self._consumer.start()
            self._queue = queue
        if isinstance(channel, aio_pika.abc.AbstractRobustChannel):
            channel.reopen_callbacks.add(self._on_channel_reopen)
        self._broker.connection.reconnect_callbacks.add(self._on_reconnect)
        self.ready.set()
        log.info("consuming job events on %s", queue.name)
        # Sessions that subscribed before the queue existed may have missed events.
        self._broadcast(RESYNC)

    async def _on_channel_reopen(self, *_: Any) -> None:
        # Also after a channel-only error (no reconnect): events may have gone meanwhile.
        if self._consumer is not None:
            try:
                await self._consumer.ensure_consuming()
            except Exception as exc:
                log.error("could not consume job events again: %s", exc)
        await self._rebind_all()
        self._broadcast(RESYNC)

    async def _on_reconnect(self, *_: Any) -> None:
        # aio-pika re-declared the queue; ``_on_channel_reopen`` normally consumed and rebound
        # already (both are idempotent), then everyone catches up.
        if self._consumer is not None:
            with contextlib.suppress(Exception):  # _on_channel_reopen logs the failure
                await self._consumer.ensure_consuming()
        await self._rebind_all()
        self._broadcast(RESYNC)

    async def _on_message(self, message: Delivery) -> None:
        # No await before the fan-out: consumer tasks start in arrival order, and each
        # listener's inbox must see the events in that order.
        self.received += 1
        try:
            head = _head_decoder.decode(message.body)
        except msgspec.MsgspecError:
            return  # not a job event (or a foreign one): nothing to route
        counts = self._listeners.get(head.owner)
        if not counts:
            return
        headers = message.headers
        cursor, prev_cursor = _header(headers, HEADER_CURSOR), _header(headers, HEADER_PREV_CURSOR)
        position = _position(cursor)
        event = LiveEvent(
            owner=head.owner,
            job_id=head.job_id,
            seq=head.seq,
            # A cursor we cannot place counts as none: the sessions then ask Redis.
            cursor=cursor if position is not None else None,
            prev_cursor=prev_cursor,
            body=message.body,
            position=position,
            prev_position=_position(prev_cursor),
        )
        for listener in list(counts):
            listener.offer(event)

    def _broadcast(self, item: Resync) -> None:
        listeners = {listener for counts in self._listeners.values() for listener in counts}
        for listener in listeners:
            listener.offer(item)
