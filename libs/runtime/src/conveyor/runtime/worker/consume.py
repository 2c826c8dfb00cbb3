"""Consuming job messages: admit each one (decode, handler, publisher, redelivery, pause, fair
share), then run its attempt (start it in the store, run the handler supervised, settle it)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec
from opentelemetry.trace import Status, StatusCode

from conveyor.contracts.codecs import envelope_decoder
from conveyor.contracts.errors import ErrorCode, JobError
from conveyor.contracts.events import JobQueued, JobStarted
from conveyor.contracts.jobs import JobEnvelope, utcnow
from conveyor.contracts.topology import job_routing_key
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore, Started, StartStatus
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.logs import job_id_var
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.settings import WorkerSettings
from conveyor.runtime.subscriptions import consumer_span
from conveyor.runtime.telemetry import current_trace_id
from conveyor.runtime.transport.amqp_acks import Acks, settle_delivery
from conveyor.runtime.transport.amqp_delivery import Delivery
from conveyor.runtime.worker.context import JobContext
from conveyor.runtime.worker.control import ControlCommands
from conveyor.runtime.worker.dead_letters import DeadLetters, dead_letter_missing
from conveyor.runtime.worker.fair_share import OwnerShares, owner_cap, set_aside
from conveyor.runtime.worker.handlers import Handler, HandlerTable
from conveyor.runtime.worker.job_events import job_event
from conveyor.runtime.worker.lanes import LaneGate
from conveyor.runtime.worker.outcomes import Failed, Outcome
from conveyor.runtime.worker.progress import ProgressThrottle, record_progress
from conveyor.runtime.worker.publishers import PublisherPolicy
from conveyor.runtime.worker.running import RunningJob, RunningJobs
from conveyor.runtime.worker.settle import Settler
from conveyor.runtime.worker.supervision import call_handler, supervise

log = logging.getLogger(__name__)


class JobConsumer:
    """Takes each job message of the service queue to its outcome."""

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
        acks: Acks,
        running: RunningJobs,
        tasks: set[asyncio.Task[Any]],
        control: ControlCommands,
        settler: Settler,
        dead_letters: DeadLetters,
    ) -> None:
        self._service = service
        self._settings = settings
        self._broker = broker
        self._store = store
        self._lifecycle = lifecycle
        self._handlers = handlers
        self._metrics = metrics
        self._acks = acks
        self._running = running
        self._tasks = tasks
        self._control = control
        self._settler = settler
        self._dead_letters = dead_letters
        self._publishers = PublisherPolicy.parse(settings.publisher_owners)
        self._shares = OwnerShares(owner_cap(settings.concurrency, settings.owner_concurrency))
        self.stopping = False
        """Set when draining: new deliveries go back to the queue."""
        self._starting: dict[str, asyncio.Event] = {}
        """Jobs whose message is being started here (set before the store is asked)."""
        held = broker.topology.queue_type == "quorum" or settings.prefetch > settings.concurrency
        self._lanes = LaneGate(settings.concurrency, self._spawn) if held else None
        """Deliveries beyond the concurrency (quorum mode's lanes, or a prefetch above the
        concurrency) wait for a slot, highest priority first; else the prefetch bounds them
        and the queue orders them."""

    async def on_message(self, delivery: Delivery) -> None:
        self._acks.delivered(delivery)  # before any await: deliveries are recorded in order
        if self.stopping:
            await settle_delivery(self._acks.nack(delivery))
            return
        if self._lanes is not None:
            self._lanes.offer(delivery)
            return
        self._spawn(delivery)

    def _spawn(self, delivery: Delivery) -> None:
        # A task of our own, not the consumer's: a closing channel cancels the tasks it made,
        # and a job must be able to finish and record its outcome across a reconnect (its
        # redelivery then finds it finished).
        work = self._process(delivery) if not self.stopping else self._hand_back(delivery)
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self._lanes is not None:
            lanes = self._lanes
            task.add_done_callback(lambda _: lanes.done())

    async def hand_back_waiting(self) -> None:
        """Draining: requeue the deliveries still waiting for a slot."""
        if self._lanes is None:
            return
        for delivery in self._lanes.take_waiting():
            await self._hand_back(delivery)

    async def _hand_back(self, delivery: Delivery) -> None:
        if not delivery.channel.is_closed:  # else the broker has it back already
            await settle_delivery(self._acks.nack(delivery))

    async def _process(self, message: Delivery) -> None:
        try:
            await self._admit(message)
        except Exception:
            # Redis or RabbitMQ failed under us: give the message back rather than hold it.
            log.exception("could not process a message; requeueing it shortly")
            await asyncio.sleep(1.0)
            await settle_delivery(self._acks.nack(message))

    async def _dead_letter(
        self,
        message: Delivery,
        code: ErrorCode,
        reason: str,
        envelope: JobEnvelope | None = None,
    ) -> None:
        await self._dead_letters.publish(message, code, reason, envelope)
        await settle_delivery(self._acks.ack(message))

    async def _admit(self, message: Delivery) -> None:
        try:
            envelope = envelope_decoder.decode(message.body)
        except msgspec.MsgspecError as exc:
            await self._dead_letter(message, ErrorCode.UNDECODABLE_MESSAGE, f"cannot decode: {exc}")
            return
        handler = self._handlers.get(envelope.job_type)
        if handler is None:
            reason = f"the {self._service} service has no handler for {envelope.job_type!r}"
            await self._dead_letter(message, ErrorCode.UNKNOWN_JOB_TYPE, reason)
            return
        refusal = self._publishers.refusal(message.user_id, envelope.owner)
        if refusal is not None:
            await self._dead_letter(message, ErrorCode.PUBLISHER_NOT_ALLOWED, refusal, envelope)
            return
        while (starting := self._starting.get(envelope.job_id)) is not None:
            # Another message of this job is being started here (two copies in the queue: a
            # broker crash can undo the ack of a message that was set aside or parked). Start
            # after it, so this one joins its run instead of running the job beside it.
            await starting.wait()
        running = self._running.get(envelope.job_id)
        if running is not None and running.envelope.attempt == envelope.attempt:
            running.redeliveries.append(message)
            log.info("job redelivered while it runs here; it settles with this run")
            return
        if self._control.is_paused(envelope.job_type):
            await self._control.park(message, envelope)
            return
        if not self._shares.take(envelope):
            await set_aside(self._broker, message, envelope, self._settings.fair_share_delay)
            self._metrics.jobs_set_aside.labels(envelope.job_type).inc()
            await settle_delivery(self._acks.ack(message))
            return
        # No await since the check above: a copy delivered from now on waits for this start.
        self._starting[envelope.job_id] = asyncio.Event()
        token = job_id_var.set(envelope.job_id)
        try:
            with consumer_span(
                job_routing_key(envelope.job_type),
                message.headers,
                envelope.trace_context,
                attributes={
                    "conveyor.job_id": envelope.job_id,
                    "conveyor.attempt": envelope.attempt,
                },
            ) as span:
                outcome = await self._run_attempt(message, envelope, handler)
                if isinstance(outcome, Failed):
                    span.set_status(Status(StatusCode.ERROR, outcome.error.message))
        finally:
            self._started(envelope.job_id)
            self._shares.release(envelope)
            job_id_var.reset(token)

    def _started(self, job_id: str) -> None:
        """The job runs here now (or will not): copies of its message may go on."""
        starting = self._starting.pop(job_id, None)
        if starting is not None:
            starting.set()

    async def _run_attempt(
        self,
        message: Delivery,
        envelope: JobEnvelope,
        handler: Handler[Any],
    ) -> Outcome | None:
        queued = job_event(JobQueued, envelope, attempt=envelope.attempt)
        started_event = job_event(
            JobStarted, envelope, attempt=envelope.attempt, worker=self._settings.instance
        )
        trace_id = current_trace_id()
        started = await self._start(envelope, queued, started_event, trace_id)
        while started.status is StartStatus.RUNNING_ELSEWHERE:
            # Its worker lives (a broker blip redelivered the message here): hold the message
            # until that run ends or that worker dies, which is when it counts as a crash.
            if self.stopping:
                await settle_delivery(self._acks.nack(message))
                return None
            await asyncio.sleep(self._settings.heartbeat_interval)
            started = await self._start(envelope, queued, started_event, trace_id)
        if started.status in (StartStatus.DUPLICATE, StartStatus.ID_IN_USE):
            await self._refuse_duplicate(message, envelope, started)
            return None
        if started.status is StartStatus.FINISHED and dead_letter_missing(started):
            await self._dead_letters.publish_missing(message, envelope)
            await settle_delivery(self._acks.ack(message))
            return None
        if started.status in (StartStatus.FINISHED, StartStatus.STALE):
            log.info("skipping %s job (%s)", started.previous_state, started.status.name.lower())
            await settle_delivery(self._acks.ack(message))
            return None
        if started.status is StartStatus.CRASHED_TOO_OFTEN:
            error = JobError(
                code=ErrorCode.CRASHED_TOO_OFTEN,
                message=f"a worker died during {started.crashes} deliveries of this job",
            )
            failure = Failed(error, retryable=False)
            await asyncio.shield(self._settler.settle(message, envelope, None, failure))
            return failure
        if started.created is not None:
            self._lifecycle.announce(queued, started.created)
        assert started.started is not None
        self._lifecycle.announce(started_event, started.started)
        series = self._metrics.job_type(envelope.job_type)
        series.queue_wait.observe(max(0.0, (utcnow() - envelope.created_at).total_seconds()))
        return await self._run_handler(message, envelope, handler, started, trace_id)

    async def _run_handler(
        self,
        message: Delivery,
        envelope: JobEnvelope,
        handler: Handler[Any],
        started: Started,
        trace_id: str | None,
    ) -> Outcome:
        throttle = ProgressThrottle(
            lambda progress: record_progress(
                self._store,
                self._lifecycle,
                envelope,
                progress,
                request_cancel=self._running.cancel,
            ),
            interval=self._settings.progress_interval,
            loop=asyncio.get_running_loop(),
            job_id=envelope.job_id,
        )
        context = JobContext(
            job_id=envelope.job_id,
            job_type=envelope.job_type,
            owner=envelope.owner,
            attempt=envelope.attempt,
            max_attempts=envelope.max_attempts,
            priority=envelope.priority,
            delivery=started.crashes + 1,
            trace_id=trace_id,
            throttle=throttle,
        )
        task = asyncio.create_task(
            call_handler(self._handlers, handler, envelope, context),
            name=f"job-{envelope.job_id}",
        )
        running = RunningJob(envelope, context, task)
        self._running.add(running)
        self._started(envelope.job_id)
        series = self._metrics.job_type(envelope.job_type)
        series.in_flight.inc()
        try:
            outcome = await supervise(running, handler, self._settings, self._running)
        finally:
            series.in_flight.dec()
            series.duration.observe(time.monotonic() - running.started)
        acked = False
        try:
            acked = await asyncio.shield(
                self._settler.settle_once_recorded(message, envelope, context, outcome)
            )
        finally:
            self._running.remove(envelope.job_id)
            for again in running.redeliveries:
                await settle_delivery(self._acks.ack(again) if acked else self._acks.nack(again))
        return outcome

    async def _start(
        self, envelope: JobEnvelope, queued: JobQueued, started: JobStarted, trace_id: str | None
    ) -> Started:
        return await self._store.start(
            envelope,
            queued,
            started,
            worker=self._settings.instance,
            max_crashes=self._settings.max_crashes,
            trace_id=trace_id,
        )

    async def _refuse_duplicate(
        self, message: Delivery, envelope: JobEnvelope, started: Started
    ) -> None:
        """Skip an envelope that repeats a job (its idempotency key); dead-letter one that
        takes another job's id, so its publisher can see and replay it under a new id."""
        key = envelope.idempotency_key
        if started.status is StartStatus.DUPLICATE:
            log.info("not run: idempotency key %r belongs to job %s", key, started.duplicate_of)
        elif key and started.existing_key == key:
            log.info("not run: a repeated publish of this job (idempotency key %r)", key)
        else:
            reason = f"job id {envelope.job_id} already names another job; publish with a new id"
            await self._dead_letters.publish(message, ErrorCode.JOB_ID_IN_USE, reason, envelope)
        await settle_delivery(self._acks.ack(message))
