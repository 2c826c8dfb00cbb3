"""A worker folds a quick job's events into one message (the real broker, Redis and a worker)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aio_pika
import pytest
from redis.asyncio import Redis

from conveyor.contracts.codecs import encode
from conveyor.contracts.events import JOB_EVENT_KINDS, AnyJobEvent
from conveyor.contracts.folded_events import job_events_of
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import (
    ALL_JOB_EVENTS_BINDING,
    HEADER_CURSOR,
    HEADER_FOLDED,
    HEADER_PREV_CURSOR,
    job_routing_key,
)
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE, wait_for_state
from tests.support.services import ServiceProcess, running_worker

WINDOW = 0.1


def kind(event: AnyJobEvent) -> str:
    return JOB_EVENT_KINDS[type(event)]


@dataclass
class Received:
    routing_key: str
    headers: dict[str, object]
    events: list[AnyJobEvent]


@pytest.fixture(scope="module")
async def worker(module_namespace: str, redis: Redis) -> AsyncIterator[ServiceProcess]:
    env = {
        **FAST_WORKER_ENV,
        "CONVEYOR_PROGRESS_INTERVAL": "0.25",
        "CONVEYOR_EVENT_FOLD_WINDOW": str(WINDOW),
    }
    async with running_worker(MAINTENANCE, module_namespace, redis, **env) as service:
        yield service


async def run_straight(
    broker: Broker, store: JobStore, request: DiagnosticsRequest
) -> tuple[list[Received], list[tuple[int, bytes]]]:
    """Publish a job straight to RabbitMQ (its worker records and announces every event);
    the messages its events came in, and its history."""
    envelope = JobEnvelope(request=request, owner="folding")
    received: list[Received] = []
    channel = await broker.open_channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(broker.topology.events, ALL_JOB_EVENTS_BINDING)

    async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        events = job_events_of(message.body)
        if events[0].job_id == envelope.job_id:
            key = message.routing_key or ""
            received.append(Received(key, dict(message.headers), events))

    await queue.consume(collect, no_ack=True)
    try:
        await broker.publish(broker.topology.jobs, job_routing_key("diagnostics"), encode(envelope))
        await wait_for_state(store, envelope.job_id, {JobState.SUCCEEDED})
        async with asyncio.timeout(5):
            while not any(r.routing_key.split(".")[2] == "succeeded" for r in received):
                await asyncio.sleep(0.01)
    finally:
        await channel.close()
    return received, await store.events_after(envelope.job_id, 0, limit=100)


async def test_a_quick_job_is_one_message_with_its_three_events_in_order(
    worker: ServiceProcess, module_broker: Broker, module_store: JobStore
) -> None:
    received, history = await run_straight(
        module_broker, module_store, DiagnosticsRequest(numbers=[1, 2])
    )
    assert len(received) == 1
    [message] = received
    assert [kind(e) for e in message.events] == ["queued", "started", "succeeded"]
    assert [e.seq for e in message.events] == [1, 2, 3]
    assert message.routing_key == "job.folding.succeeded.diagnostics"
    assert message.headers[HEADER_FOLDED] == "3"
    # Redis keeps each event on its own, exactly as it was folded (one seq, one entry each).
    assert [encode(e) for e in message.events] == [body for _, body in history]
    stream = await module_store.owner_events_after("folding", "0", limit=10_000)
    cursors = [entry.cursor for entry in stream if entry.job_id == message.events[0].job_id]
    assert len(cursors) == 3
    # The message covers the owner stream from its first event's predecessor to its last.
    assert message.headers[HEADER_CURSOR] == cursors[-1]
    first = [entry.cursor for entry in stream].index(cursors[0])
    assert message.headers[HEADER_PREV_CURSOR] == (stream[first - 1].cursor if first else "0-0")


async def test_a_job_slower_than_the_window_gets_its_final_event_in_a_message_of_its_own(
    worker: ServiceProcess, module_broker: Broker, module_store: JobStore
) -> None:
    received, history = await run_straight(
        module_broker, module_store, DiagnosticsRequest(numbers=[1], sleep_seconds=3 * WINDOW)
    )
    kinds = [[kind(e) for e in r.events] for r in received]
    # queued and started waited the window together; progress and success came much later.
    assert kinds[0] == ["queued", "started"]
    assert len(received) >= 2 and kinds[-1][-1] == "succeeded"
    assert "succeeded" not in kinds[0]
    seqs = [e.seq for r in received for e in r.events]
    assert seqs == [seq for seq, _ in history] == list(range(1, len(history) + 1))
