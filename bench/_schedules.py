"""Scheduled jobs for the scheduler benchmark: a schedule firing every second, a tap on them."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
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

    def fire_times(self, name: str) -> list[dt.datetime]:
        return [t for n, t in map(fire_time_of, self.envelopes) if n == name]

    async def wait_for(self, count: int, name: str, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.fire_times(name)) < count:
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def tap_jobs(broker: Broker, *bindings: str) -> AsyncIterator[JobsTap]:
    """Copies of the jobs published with ``bindings`` (by default ``job.diagnostics``), through
    one queue of the test's own: jobs one publisher sent arrive in the order it sent them."""
    tap = JobsTap()
    channel = await broker.open_channel()
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    for binding in bindings or ("job.diagnostics",):
        await queue.bind(broker.topology.jobs, binding)

    async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        envelope = envelope_decoder.decode(message.body)
        if envelope.attempt == 1 and envelope.idempotency_key:
            tap.envelopes.append(envelope)

    await queue.consume(collect, no_ack=True)
    try:
        yield tap
    finally:
        await channel.close()
