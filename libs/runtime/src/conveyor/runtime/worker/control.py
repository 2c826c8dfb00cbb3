"""Control commands for this worker instance (cancel, pause, resume, drain) and the parking
of paused job types' messages until their resume."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aio_pika.abc
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from conveyor.contracts.codecs import control_decoder
from conveyor.contracts.control import (
    CancelJob,
    ControlCommand,
    DrainWorker,
    PauseJobType,
    ResumeJobType,
)
from conveyor.contracts.jobs import JobEnvelope
from conveyor.contracts.topology import command_routing_key
from conveyor.runtime.broker import Broker, BrokerUnavailableError
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.monitoring.pausing import Parking, paused_job_types, release_parked
from conveyor.runtime.subscriptions import Broadcast, Exchange, Subscriber, Subscription
from conveyor.runtime.transport.amqp_acks import Acks, settle_delivery
from conveyor.runtime.transport.amqp_delivery import Delivery
from conveyor.runtime.worker.outcomes import CancelReason
from conveyor.runtime.worker.running import RunningJobs

log = logging.getLogger(__name__)

CONTROL = Broadcast(
    name="control",
    exchange=Exchange.CONTROL,
    bindings=tuple(
        command_routing_key(command)
        for command in (CancelJob, PauseJobType, ResumeJobType, DrainWorker)
    ),
    decode=control_decoder.decode,
)
"""The commands a worker instance obeys."""


class ControlCommands:
    """Obeys the control exchange for one instance and parks the job types it paused."""

    def __init__(
        self,
        *,
        broker: Broker,
        store: JobStore,
        instance: str,
        running: RunningJobs,
        acks: Acks,
        tasks: set[asyncio.Task[Any]],
        on_drain: Callable[[], None],
    ) -> None:
        self._broker = broker
        self._store = store
        self._instance = instance
        self._running = running
        self._acks = acks
        self._tasks = tasks
        """The worker's background tasks (a drain waits for them)."""
        self._paused: set[str] = set()
        self._parking = Parking(broker)
        self._parks: set[asyncio.Task[Any]] = set()
        self._on_drain = on_drain

    async def start(
        self, subscriber: Subscriber, channel: aio_pika.abc.AbstractChannel
    ) -> Subscription:
        """Listen for commands, then read which job types are paused."""
        subscription = await subscriber.subscribe(CONTROL, self.obey, channel=channel)
        # Bound first, read second: a pause recorded meanwhile arrives as a command anyway.
        self._paused = await paused_job_types(self._store.redis, self._store.keys)
        return subscription

    def is_paused(self, job_type: str) -> bool:
        return job_type in self._paused

    async def obey(self, command: ControlCommand) -> None:
        """Carry out one command (those for other processes are ignored)."""
        match command:
            case CancelJob(job_id=job_id):
                self._running.cancel(job_id, CancelReason.CANCELLED)
            case PauseJobType(job_type=job_type):
                self._paused.add(job_type)
                log.info("job type %s paused: parking its messages", job_type)
            case ResumeJobType(job_type=job_type):
                self._paused.discard(job_type)
                log.info("job type %s resumed", job_type)
                task = asyncio.create_task(self._release_parked(job_type))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            case DrainWorker(instance=instance) if instance in (None, self._instance):
                log.info("drain requested through the control exchange")
                self._on_drain()

    async def park(self, message: Delivery, envelope: JobEnvelope) -> None:
        """Move a paused job type's message to its parked queue, then ack it."""
        task = asyncio.current_task()
        assert task is not None
        self._parks.add(task)
        try:
            await self._parking.park(envelope.job_type, message)
        finally:
            self._parks.discard(task)
        await settle_delivery(self._acks.ack(message))
        log.info("parked a job of paused type %s", envelope.job_type)

    async def _release_parked(self, job_type: str) -> None:
        # Parks that started before the resume must land first, or their messages would wait
        # in the parked queue until the next resume.
        if self._parks:
            await asyncio.wait(list(self._parks))
        try:
            await release_parked(self._broker, job_type)
        except (BrokerUnavailableError, *CONNECTION_EXCEPTIONS) as exc:
            log.warning("parked %s jobs not released (%s); resume again", job_type, exc)
