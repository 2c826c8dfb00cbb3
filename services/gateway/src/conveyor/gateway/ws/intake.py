"""Live job events for this gateway instance: one exclusive queue, bound per watched owner.

The queue is a ``DynamicBindings`` subscription (``conveyor.runtime.subscriptions``), bound to
``job.<owner>.#`` while at least one subscription here watches that owner, so a replica only
receives the events its connected users need. Messages are consumed without acks: a lost one
is recovered from the Redis history by the session's gap check, and after a (re)connection
every session is told to catch up from Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from conveyor.contracts.folded_events import FoldedJobEventsRaw
from conveyor.contracts.topology import HEADER_FOLDED, owner_events_binding
from conveyor.gateway.ws.aiohttp_bridge import text_frame
from conveyor.gateway.ws.protocol import EventMessage, encoder, stream_position
from conveyor.runtime.broker import Broker
from conveyor.runtime.dynamic_subscription import DynamicSubscription
from conveyor.runtime.jobstore import Appended
from conveyor.runtime.lifecycle import HEADER_CURSOR, HEADER_PREV_CURSOR
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.subscriptions import DynamicBindings, Exchange, Subscriber
from conveyor.runtime.transport.amqp_delivery import Delivery

log = logging.getLogger(__name__)


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
_folded_decoder = msgspec.json.Decoder(FoldedJobEventsRaw)


def _header(headers: dict[str, Any], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _live_event(body: bytes, cursor: str | None, prev_cursor: str | None) -> LiveEvent:
    head = _head_decoder.decode(body)
    position = _position(cursor)
    return LiveEvent(
        owner=head.owner,
        job_id=head.job_id,
        seq=head.seq,
        # A cursor we cannot place counts as none: the sessions then ask Redis.
        cursor=cursor if position is not None else None,
        prev_cursor=prev_cursor,
        body=body,
        position=position,
        prev_position=_position(prev_cursor),
    )


def live_events(message: Delivery) -> tuple[LiveEvent, ...]:
    """The ``LiveEvent``s of a delivered job event or folded message, in order; raises
    ``msgspec.MsgspecError`` for a message that is neither (or a foreign one): nothing to
    route. Each folded event is offered as if it had come alone, with its own cursors."""
    headers = message.headers
    if HEADER_FOLDED not in headers:
        cursor, prev_cursor = _header(headers, HEADER_CURSOR), _header(headers, HEADER_PREV_CURSOR)
        return (_live_event(message.body, cursor, prev_cursor),)
    folded = _folded_decoder.decode(message.body)
    return tuple(
        _live_event(bytes(item.event), item.cursor, item.prev_cursor) for item in folded.events
    )


JOB_EVENTS = DynamicBindings(name="gateway", exchange=Exchange.EVENTS, decode=live_events)
"""The instance's queue ``<namespace>.gateway.<instance>``, bound per watched owner."""


class EventIntake:
    """The instance's event subscription, its owner bindings, and fan-out to listening sessions."""

    def __init__(self, broker: Broker, *, instance: str, metrics: Metrics) -> None:
        self._broker = broker
        self._subscriber = Subscriber(broker, instance=instance, metrics=metrics)
        self._listeners: dict[str, Counter[Listener]] = {}
        # Serialises bind/unbind with the bookkeeping, so a release racing an acquire can
        # never leave an owner unbound while someone still listens.
        self._lock = asyncio.Lock()
        self._subscription: DynamicSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        """Set once the queue consumes (tests wait for it)."""
        self.received = 0
        """Job events this instance's queue delivered (each folded one counts): only those of
        owners watched here."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-event-intake")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._subscription is not None:
            await self._subscription.cancel()

    @property
    def owners(self) -> frozenset[str]:
        """Owners whose events this instance's queue is bound to (or is binding)."""
        return frozenset(self._listeners)

    @property
    def subscription(self) -> DynamicSubscription | None:
        """The queue's subscription, once it consumes."""
        return self._subscription

    # -- subscriptions -------------------------------------------------------------------------

    async def acquire(self, owner: str, listener: Listener) -> None:
        """Route ``owner``'s events to ``listener`` (binding the owner on first use).

        When this returns, every event announced from now on reaches the listener.
        """
        async with self._lock:
            first = owner not in self._listeners
            self._listeners.setdefault(owner, Counter())[listener] += 1
            if first and self._subscription is not None:
                # Otherwise bound together with the others when the queue is declared.
                await self._bind(self._subscription, owner)

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
                if self._subscription is not None:
                    await self._unbind(self._subscription, owner)
                del self._listeners[owner]

    @staticmethod
    async def _bind(subscription: DynamicSubscription, owner: str) -> None:
        try:
            await subscription.bind(owner_events_binding(owner))
        except Exception as exc:
            # The sessions still get history; after the reconnection every owner is rebound
            # and every session catches up.
            log.warning("could not bind events of %s: %s", owner, exc)

    @staticmethod
    async def _unbind(subscription: DynamicSubscription, owner: str) -> None:
        try:
            await subscription.unbind(owner_events_binding(owner))
        except Exception as exc:  # a stale binding only brings events nobody listens to
            log.warning("could not unbind events of %s: %s", owner, exc)

    # -- consuming -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._broker.wait_connected()
            try:
                await self._subscribe()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event queue not ready, retrying: %s", exc)
                await asyncio.sleep(1.0)

    async def _subscribe(self) -> None:
        async with self._lock:
            # Restored after a reopen or a reconnect: consumes again, binds every watched
            # owner again, then ``_on_restored`` makes every session catch up.
            subscription = await self._subscriber.subscribe(
                JOB_EVENTS, self._on_event, on_restored=self._on_restored
            )
            try:
                for owner in self._listeners:
                    await subscription.bind(owner_events_binding(owner))
            except BaseException:
                await subscription.cancel()
                raise
            self._subscription = subscription
        self.ready.set()
        log.info("consuming job events on %s", subscription.queue_name)
        # Sessions that subscribed before the queue existed may have missed events.
        self._broadcast(RESYNC)

    async def _on_restored(self) -> None:
        self._broadcast(RESYNC)

    async def _on_event(self, events: tuple[LiveEvent, ...]) -> None:
        # No await before the fan-out: consumer tasks start in arrival order, and each
        # listener's inbox must see the events in that order (a folded message's in its own).
        self.received += len(events)
        self._fan_out(events)

    def offer_recorded(self, appended: Appended) -> None:
        """Fan out an event this process recorded and announced (``JobLifecycle.on_queued``)
        without waiting for the broker to bring it back.

        The job's worker may well finish before the announcement makes the round trip, and
        the sessions would then find its events following one they never saw and read the
        gap from Redis. The broker's copy still arrives, and the sessions drop it as seen.
        """
        try:
            event = _live_event(appended.body, appended.cursor, appended.prev_cursor)
        except msgspec.MsgspecError as exc:  # ours, so never; the broker's copy still comes
            log.warning("not offering a recorded event: %s", exc)
            return
        self._fan_out((event,))

    def _fan_out(self, events: tuple[LiveEvent, ...]) -> None:
        counts = self._listeners.get(events[0].owner)
        if not counts:
            return
        listeners = list(counts)
        for event in events:
            for listener in listeners:
                listener.offer(event)

    def _broadcast(self, item: Resync) -> None:
        listeners = {listener for counts in self._listeners.values() for listener in counts}
        for listener in listeners:
            listener.offer(item)
