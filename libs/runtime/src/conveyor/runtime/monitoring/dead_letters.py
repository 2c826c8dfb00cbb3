"""Browsing, replaying and purging the dead-letter queue.

Browsing is non-destructive: messages are fetched with ``basic.get`` without acking on a
channel of their own, then the channel is closed, which makes RabbitMQ requeue them in their
original order. While a listing holds them (milliseconds) a concurrent replay does not see
them; that is the price of not keeping a second copy of every dead letter.

Replay republishes a dead letter to the ``jobs`` exchange (confirmed) as attempt 1, resets a
failed job's record to queued, and only then acks the dead-letter copy: a crash in between
leaves a duplicate, never a lost job.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aio_pika.abc
import msgspec

from conveyor.contracts.codecs import encode, envelope_decoder
from conveyor.contracts.events import JobQueued
from conveyor.contracts.jobs import JobEnvelope
from conveyor.contracts.monitoring import DeadLetter, ReplayResult
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import (
    HEADER_DEAD_AT,
    HEADER_ERROR_CODE,
    HEADER_REASON,
    HEADER_ROUTING_KEY,
    HEADER_SOURCE_QUEUE,
    job_routing_key,
)
from conveyor.runtime.broker import Broker
from conveyor.runtime.lifecycle import JobLifecycle

log = logging.getLogger(__name__)

PREVIEW_BYTES = 512
LIST_ATTEMPTS = 5
IDLE_SECONDS = 0.3
"""A consumer that got nothing for this long has seen every ready message."""
REPLAY_BATCH = 1000
REPLAY_CONCURRENCY = 32
MAX_SCAN = 10_000
"""Replay by id looks at most this many dead letters in one call."""


@dataclass(frozen=True, slots=True)
class _Decoded:
    letter: DeadLetter
    envelope: JobEnvelope | None


def _header(headers: dict[str, Any], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def letter_id(message: aio_pika.abc.AbstractIncomingMessage) -> str:
    """The job id, or (for a message that had none) a digest of its body."""
    if message.message_id and message.message_id != "-":
        return message.message_id
    return "sha1-" + hashlib.sha1(message.body, usedforsecurity=False).hexdigest()[:16]


def _decode(message: aio_pika.abc.AbstractIncomingMessage) -> _Decoded:
    headers = dict(message.headers or {})
    try:
        envelope: JobEnvelope | None = envelope_decoder.decode(message.body)
    except msgspec.MsgspecError:
        envelope = None
    letter = DeadLetter(
        id=letter_id(message),
        job_id=envelope.job_id if envelope else None,
        job_type=envelope.job_type if envelope else None,
        owner=envelope.owner if envelope else None,
        reason=_header(headers, HEADER_REASON) or "(no reason recorded)",
        error_code=_header(headers, HEADER_ERROR_CODE),
        routing_key=_header(headers, HEADER_ROUTING_KEY),
        source_queue=_header(headers, HEADER_SOURCE_QUEUE),
        dead_lettered_at=_header(headers, HEADER_DEAD_AT),
        payload_preview=message.body[:PREVIEW_BYTES].decode(errors="replace"),
        payload_bytes=len(message.body),
    )
    return _Decoded(letter, envelope)


async def list_dead_letters(broker: Broker, *, limit: int) -> tuple[list[DeadLetter], int]:
    """The first ``limit`` dead letters (oldest first) and how many the queue holds.

    Messages another reader holds at that moment (a concurrent listing or replay) are not
    visible; when fewer come than the queue counted, it looks again after a short pause.
    """
    for attempt in range(LIST_ATTEMPTS):
        letters, total = await _browse(broker, limit)
        if len(letters) >= min(limit, total):
            break
        await asyncio.sleep(random.uniform(0.02, 0.1) * (attempt + 1))
    return letters, total


async def _take(
    queue: aio_pika.abc.AbstractQueue, count: int
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Up to ``count`` messages, unacked, from a consumer (one round trip per message with
    ``basic.get`` made browsing 2,000 dead letters take seconds). The channel's prefetch must
    be at least ``count``; stops early once nothing arrived for ``IDLE_SECONDS``."""
    taken: list[aio_pika.abc.AbstractIncomingMessage] = []
    if count <= 0:
        return taken
    arrived = asyncio.Event()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        taken.append(message)
        arrived.set()

    tag = await queue.consume(on_message, no_ack=False)
    try:
        while len(taken) < count:
            arrived.clear()
            try:  # asyncio.timeout: wait_for may drop a cancellation on 3.11 (gh-86296)
                async with asyncio.timeout(IDLE_SECONDS):
                    await arrived.wait()
            except TimeoutError:
                break
    finally:
        await queue.cancel(tag)
    return taken


async def _browse(broker: Broker, limit: int) -> tuple[list[DeadLetter], int]:
    channel = await broker.open_channel(prefetch=limit)
    try:
        queue = await channel.declare_queue(broker.topology.dead_letter_queue, passive=True)
        # Ready messages only: ones held unacked by another reader are not counted here.
        total = int(queue.declaration_result.message_count or 0)
        taken = await _take(queue, min(limit, total))
        letters = [_decode(message).letter for message in taken[:limit]]
    finally:
        await channel.close()  # requeues everything taken, in order
    return letters, total


async def purge_dead_letters(broker: Broker) -> int:
    channel = await broker.open_channel()
    try:
        queue = await channel.declare_queue(broker.topology.dead_letter_queue, passive=True)
        result = await queue.purge()
        return int(result.message_count or 0)
    finally:
        await channel.close()


async def replay_dead_letters(
    broker: Broker, lifecycle: JobLifecycle, ids: Iterable[str] | None
) -> ReplayResult:
    """Replay the dead letters with these ids, or all of them when ``ids`` is ``None``.

    By id, the first ``MAX_SCAN`` dead letters are looked at; the others stay untouched.
    """
    wanted = None if ids is None else set(ids)
    result = ReplayResult(replayed=[])
    batch = MAX_SCAN if wanted is not None else REPLAY_BATCH
    channel = await broker.open_channel(prefetch=batch)
    try:
        queue = await channel.declare_queue(broker.topology.dead_letter_queue, passive=True)
        remaining = int(queue.declaration_result.message_count or 0)
        while remaining > 0 and (wanted is None or wanted):
            taken = await _take(queue, min(batch, remaining))
            if not taken:
                break
            remaining -= len(taken)
            chosen = []
            for message in taken:
                decoded = _decode(message)
                if wanted is None or decoded.letter.id in wanted:
                    chosen.append((message, decoded))
                    if wanted is not None:
                        wanted.discard(decoded.letter.id)
                # others stay unacked: requeued, in order, when the channel closes
            await _replay_all(broker, lifecycle, chosen, result)
            if wanted is not None:
                break  # one scan of up to MAX_SCAN messages
    finally:
        await channel.close()
    result.missing = sorted(wanted or ())
    return result


async def _replay_all(
    broker: Broker,
    lifecycle: JobLifecycle,
    chosen: list[tuple[aio_pika.abc.AbstractIncomingMessage, _Decoded]],
    result: ReplayResult,
) -> None:
    # Confirmed publishes in parallel (bounded): one at a time a replay of thousands took
    # seconds, almost all of it waiting for confirms.
    gate = asyncio.Semaphore(REPLAY_CONCURRENCY)

    async def one(message: aio_pika.abc.AbstractIncomingMessage, decoded: _Decoded) -> None:
        async with gate:
            if await _replay(broker, lifecycle, message, decoded):
                await message.ack()
                result.replayed.append(decoded.letter.id)
            else:
                result.not_replayable.append(decoded.letter.id)

    await asyncio.gather(*(one(message, decoded) for message, decoded in chosen))


async def _replay(
    broker: Broker,
    lifecycle: JobLifecycle,
    message: aio_pika.abc.AbstractIncomingMessage,
    decoded: _Decoded,
) -> bool:
    headers = {
        k: v
        for k, v in (message.headers or {}).items()
        if not k.startswith("x-conveyor-") and k != "x-death"
    }
    envelope = decoded.envelope
    if envelope is None:
        routing_key = decoded.letter.routing_key
        if not routing_key:
            return False
        # Not decodable: replayed as it was, so a fixed consumer can take it.
        await broker.publish(
            broker.topology.jobs,
            routing_key,
            message.body,
            headers=headers,
            priority=message.priority,
            message_id=message.message_id,
        )
        return True
    fresh = msgspec.structs.replace(envelope, attempt=1)
    await _requeue_record(lifecycle, fresh)
    await broker.publish(
        broker.topology.jobs,
        job_routing_key(envelope.job_type),
        encode(fresh),
        headers=headers,
        priority=envelope.priority.amqp_priority,
        message_id=envelope.job_id,
    )
    log.info("replayed dead letter", extra={"job_id": envelope.job_id})
    return True


async def _requeue_record(lifecycle: JobLifecycle, envelope: JobEnvelope) -> None:
    # Before publishing: a worker that takes the message at once must find the job queued at
    # attempt 1, not failed (which it would skip) or at a later attempt (stale).
    store = lifecycle.store
    event = JobQueued(
        job_id=envelope.job_id, job_type=envelope.job_type, owner=envelope.owner, attempt=1
    )
    outcome = await store.transition(
        envelope.job_id,
        envelope.owner,
        allowed=(JobState.FAILED,),
        to=JobState.QUEUED,
        event=event,
        # ``dead_lettered`` cleared: should this run fail too, its own dead letter must go out.
        fields={
            "attempt": 1,
            "crashes": 0,
            "error": None,
            "finished_at": None,
            "dead_lettered": None,
        },
    )
    if outcome.ok and outcome.event is not None:
        await store.mark_active(envelope.job_id)
        lifecycle.announce(event, outcome.event)
