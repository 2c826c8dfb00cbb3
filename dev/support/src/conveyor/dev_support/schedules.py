"""Schedules for the scheduler's tests and benchmark: one firing every second, a tap on the jobs
it publishes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import aio_pika
import aio_pika.abc

from conveyor.contracts.codecs import envelope_decoder
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope
from conveyor.contracts.schedules import Schedule, ScheduleTrigger
from conveyor.runtime.broker import Broker


def every_second(name: str = "tick", **fields: object) -> Schedule:
    """A schedule firing a diagnostics job every second, catching up every missed firing."""
    values: dict[str, object] = {
        "coalesce": False,
        "misfire_grace_seconds": 60,
        "changed_at": dt.datetime.now(dt.UTC),
        **fields,
    }
    return Schedule(
        name=name,
        request=DiagnosticsRequest(numbers=[1, 2]),
        trigger=ScheduleTrigger(interval_seconds=1),
        **values,  # type: ignore[arg-type]
    )


def fire_time_of(envelope: JobEnvelope) -> tuple[str, dt.datetime]:
    """(schedule, fire time) from a scheduled job's idempotency key ``schedule:<name>:<iso>``."""
    assert envelope.idempotency_key is not None
    _, name, iso = envelope.idempotency_key.split(":", 2)
    return name, dt.datetime.fromisoformat(iso)


@dataclass
class JobsTap:
    """Every first-attempt message published on ``jobs`` with a matching routing key."""

    envelopes: list[JobEnvelope] = field(default_factory=list)
    _settle: Callable[[], Awaitable[None]] | None = None

    async def settle(self) -> None:
        """Return once every job confirmed on ``jobs`` before this call has reached the tap."""
        assert self._settle is not None
        await self._settle()

    def fire_times(self, name: str) -> list[dt.datetime]:
        return [t for n, t in map(fire_time_of, self.envelopes) if n == name]

    async def wait_for(self, count: int, name: str, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.fire_times(name)) < count:
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def tap_jobs(broker: Broker, *bindings: str) -> AsyncIterator[JobsTap]:
    """Copies of the jobs published with ``bindings`` (by default ``job.diagnostics``), through
    one queue of the run's own: jobs one publisher sent arrive in the order it sent them."""
    tap = JobsTap()
    channel = await broker.open_channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    for binding in bindings or ("job.diagnostics",):
        await queue.bind(broker.topology.jobs, binding)
    # A routing key only this queue is bound to: a marker sent on it arrives after whatever
    # was enqueued before it.
    marker_key = f"job.tap-marker-{uuid.uuid4().hex}"
    await queue.bind(broker.topology.jobs, marker_key)
    markers: dict[str, asyncio.Event] = {}

    async def settle() -> None:
        marker = uuid.uuid4().hex
        arrived = markers[marker] = asyncio.Event()
        await broker.publish(broker.topology.jobs, marker_key, marker.encode(), persistent=False)
        await asyncio.wait_for(arrived.wait(), 10)

    tap._settle = settle

    async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        if message.routing_key == marker_key:
            markers[message.body.decode()].set()
            return
        envelope = envelope_decoder.decode(message.body)
        if envelope.attempt == 1 and envelope.idempotency_key:
            tap.envelopes.append(envelope)

    await queue.consume(collect, no_ack=True)
    try:
        yield tap
    finally:
        await channel.close()
