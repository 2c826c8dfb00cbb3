"""The worker harness: one service's job queue, its handlers, and the parts that run them.

Read top-down: ``Worker`` wires the parts, ``start`` subscribes to control commands and then
to the job queue (``conveyor.runtime.subscriptions``), ``drain`` stops. Where each behaviour lives:

- ``consume``: admitting a message and running its attempt (the job's path start to end);
- ``supervision``: time limits, and what a handler's ending means as an outcome;
- ``settle``: recording the outcome, acking, announcing (``transitions`` writes the record);
  ``retries``: whether and when a failed job runs again; ``dead_letters``: messages that
  cannot or must not run;
- ``control``: cancel, pause (parking), resume and drain commands;
- ``progress``: the progress throttle behind ``JobContext``;
- ``running``: the jobs running here; ``heartbeat``: this instance's liveness record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aio_pika.abc
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.settings import WorkerSettings
from conveyor.runtime.subscriptions import Subscriber, Subscription, WorkQueue
from conveyor.runtime.transport.amqp_acks import new_acks
from conveyor.runtime.worker.consume import JobConsumer
from conveyor.runtime.worker.control import ControlCommands
from conveyor.runtime.worker.dead_letters import DeadLetters
from conveyor.runtime.worker.handlers import HandlerTable
from conveyor.runtime.worker.heartbeat import Heartbeat
from conveyor.runtime.worker.lanes import worker_prefetch
from conveyor.runtime.worker.outcomes import CancelReason
from conveyor.runtime.worker.retries import Retries
from conveyor.runtime.worker.running import RunningJobs
from conveyor.runtime.worker.settle import Settler

log = logging.getLogger(__name__)


class Worker:
    """Consumes one service's job queue and runs its handlers."""

    def __init__(
        self,
        *,
        service: str,
        settings: WorkerSettings,
        broker: Broker,
        store: JobStore,
        lifecycle: JobLifecycle,
        handlers: HandlerTable,
        metrics: Metrics,
    ) -> None:
        self.service = service
        self.settings = settings
        self.broker = broker
        self.store = store
        self.lifecycle = lifecycle
        self.handlers = handlers
        self.metrics = metrics
        self.queue_name = broker.topology.service_queue(service)
        self.on_drain_requested: Callable[[], None] | None = None
        """Called on a ``DrainWorker`` command for this instance; the service then stops."""
        self._running = RunningJobs()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._subscriber = Subscriber(broker, instance=settings.instance, metrics=metrics)
        self._consumer: Subscription | None = None
        acks = new_acks(broker.transport)
        dead_letters = DeadLetters(broker, store, metrics, self.queue_name)
        retries = Retries(
            broker=broker,
            store=store,
            lifecycle=lifecycle,
            metrics=metrics,
            settings=settings,
            acks=acks,
        )
        self._settler = Settler(
            store=store,
            lifecycle=lifecycle,
            metrics=metrics,
            acks=acks,
            retries=retries,
            dead_letters=dead_letters,
            settings=settings,
        )
        self._control = ControlCommands(
            broker=broker,
            store=store,
            instance=settings.instance,
            running=self._running,
            acks=acks,
            tasks=self._tasks,
            on_drain=self._drain_requested,
        )
        self._jobs = JobConsumer(
            service=service,
            settings=settings,
            broker=broker,
            store=store,
            lifecycle=lifecycle,
            handlers=handlers,
            metrics=metrics,
            acks=acks,
            running=self._running,
            tasks=self._tasks,
            control=self._control,
            settler=self._settler,
            dead_letters=dead_letters,
        )
        self._heartbeat = Heartbeat(
            store.redis,
            store.keys,
            service=service,
            instance=settings.instance,
            concurrency=settings.concurrency,
            job_types=handlers.job_types,
            interval=settings.heartbeat_interval,
            snapshot=lambda: (list(self._running), self._settler.succeeded, self._settler.failed),
        )

    async def start(self) -> None:
        """Start heartbeats, listen for control commands, then start consuming jobs."""
        await self._heartbeat.beat()
        self._heartbeat.start()
        settings = self.settings
        quorum = self.broker.topology.queue_type == "quorum"
        self._channel = await self.broker.open_channel(
            prefetch=worker_prefetch(settings.concurrency, settings.prefetch, quorum=quorum)
        )
        await self._control.start(self._subscriber, self._channel)
        self._consumer = await self._subscriber.subscribe(
            WorkQueue(self.service), self._jobs.on_message, channel=self._channel
        )
        log.info(
            "%s worker consuming %s (concurrency %d, types %s)",
            self.service,
            ", ".join(name for name, _ in self.broker.topology.job_queues(self.service)),
            self.settings.concurrency,
            ", ".join(self.handlers.job_types),
        )

    async def drain(self, grace: float | None = None) -> None:
        """Stop taking jobs, give running ones ``grace`` seconds, then requeue the rest."""
        grace = self.settings.shutdown_grace if grace is None else grace
        self._jobs.stopping = True
        if self._consumer is not None:
            try:
                await self._consumer.cancel()
            except (aio_pika.exceptions.AMQPError, *CONNECTION_EXCEPTIONS) as exc:
                log.warning("could not cancel the consumer: %s", exc)
        await self._jobs.hand_back_waiting()
        if self._tasks:
            log.info("draining %d running job(s), up to %.0f s", len(self._running), grace)
            _, pending = await asyncio.wait(list(self._tasks), timeout=grace)
            if pending:
                for job_id in list(self._running):
                    self.request_cancel(job_id, CancelReason.SHUTDOWN)
                await asyncio.wait(pending, timeout=10)
        await self._heartbeat.stop()
        await self.lifecycle.drain()
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    def request_cancel(self, job_id: str, reason: str) -> bool:
        """Cancel the handler of ``job_id`` if it runs here; returns whether it did."""
        return self._running.cancel(job_id, reason)

    @property
    def running_jobs(self) -> list[str]:
        return list(self._running)

    def _drain_requested(self) -> None:
        if self.on_drain_requested is not None:
            self.on_drain_requested()
