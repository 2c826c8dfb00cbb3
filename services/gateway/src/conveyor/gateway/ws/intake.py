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
from dataclasses import dataclass
from typing import Any, Protocol

import aio_pika.abc
import msgspec

from conveyor.contracts.topology import owner_events_binding
from conveyor.runtime.broker import Broker
from conveyor.runtime.lifecycle import HEADER_CURSOR, HEADER_PREV_CURSOR

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
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        """Set once the queue consumes (tests wait for it)."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-event-intake")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def owners(self) -> frozenset[str]:
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
                del self._listeners[owner]
                await self._unbind(owner)

    async def _bind(self, owner: str) -> None:
        if self._queue is None:
            return  # bound together with the others when the queue is declared
        try:
            await self._queue.bind(
                self._broker.topology.events,
                owner_events_binding(owner),
                timeout=BIND_TIMEOUT_SECONDS,
            )
        except Exception as exc:
            # The sessions still get history; after the reconnection every owner is rebound
            # and every session catches up.
            log.warning("could not bind events of %s: %s", owner, exc)

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
            await queue.consume(self._on_message, no_ack=True)
            self._queue = queue
        self._broker.connection.reconnect_callbacks.add(self._on_reconnect)
        self.ready.set()
        log.info("consuming job events on %s", queue.name)
        # Sessions that subscribed before the queue existed may have missed events.
        self._broadcast(RESYNC)

    async def _on_reconnect(self, *_: Any) -> None:
        # aio-pika restored the queue, the bindings it saw succeed and the consumer; bind
        # the owners whose binding failed while disconnected, then let everyone catch up.
        async with self._lock:
            for owner in self._listeners:
                await self._bind(owner)
        self._broadcast(RESYNC)

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        # No await before the fan-out: consumer tasks start in arrival order, and each
        # listener's inbox must see the events in that order.
        try:
            head = _head_decoder.decode(message.body)
        except msgspec.MsgspecError:
            return  # not a job event (or a foreign one): nothing to route
        counts = self._listeners.get(head.owner)
        if not counts:
            return
        headers = dict(message.headers or {})
        event = LiveEvent(
            owner=head.owner,
            job_id=head.job_id,
            seq=head.seq,
            cursor=_header(headers, HEADER_CURSOR),
            prev_cursor=_header(headers, HEADER_PREV_CURSOR),
            body=message.body,
        )
        for listener in list(counts):
            listener.offer(event)

    def _broadcast(self, item: Resync) -> None:
        listeners = {listener for counts in self._listeners.values() for listener in counts}
        for listener in listeners:
            listener.offer(item)
