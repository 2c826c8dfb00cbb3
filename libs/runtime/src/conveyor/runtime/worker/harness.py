"""The worker harness: consume job messages, run their handlers, record and announce outcomes.

Per message: decode and validate (undecodable -> dead letter), atomically mark the attempt
running (skipping cancelled, finished and stale messages, dead-lettering jobs that crashed
their workers too often), run the handler as its own task under soft and hard time limits,
then record the outcome, ack, and announce it. Retries go through delay queues with
exponential backoff; the final failure is dead-lettered with its reason. Outcome recording
and acks run under ``asyncio.shield`` so a shutdown cannot half-record an outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aio_pika.abc
import msgspec
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from aiormq.abc import DeliveredMessage
from opentelemetry.trace import SpanKind, Status, StatusCode
from redis.exceptions import RedisError

from conveyor.contracts.codecs import control_decoder, encode, envelope_decoder
from conveyor.contracts.control import CancelJob, DrainWorker, PauseJobType, ResumeJobType
from conveyor.contracts.errors import ErrorCode, JobError
from conveyor.contracts.events import (
    JobCancelled,
    JobEvent,
    JobFailed,
    JobProgressed,
    JobQueued,
    JobRetrying,
    JobStarted,
    JobSucceeded,
)
from conveyor.contracts.jobs import FileResult, JobEnvelope, utcnow
from conveyor.contracts.records import JobState, Progress
from conveyor.contracts.topology import (
    HEADER_DEAD_AT,
    HEADER_ERROR_CODE,
    HEADER_REASON,
    HEADER_ROUTING_KEY,
    HEADER_SOURCE_QUEUE,
    control_routing_key,
    job_routing_key,
)
from conveyor.runtime.broker import Broker, BrokerUnavailableError, service_queue_arguments
from conveyor.runtime.direct_consumer import DirectConsumer
from conveyor.runtime.jobstore import JobStore, Started, StartStatus
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.logs import job_id_var
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.monitoring.pausing import Parking, paused_job_types, release_parked
from conveyor.runtime.settings import WorkerSettings
from conveyor.runtime.telemetry import (
    child_spans_recorded,
    current_trace_id,
    extract_context,
    inject_headers,
    publish_span,
    remote_child_span,
    tracer,
)
from conveyor.runtime.worker.acks import AckBatcher
from conveyor.runtime.worker.context import JobContext
from conveyor.runtime.worker.delivery import JobDelivery
from conveyor.runtime.worker.fair_share import OwnerShares, owner_cap, set_aside
from conveyor.runtime.worker.handlers import Handler, HandlerTable
from conveyor.runtime.worker.heartbeat import Heartbeat
from conveyor.runtime.worker.outcomes import (
    Cancelled,
    CancelReason,
    Failed,
    Outcome,
    Requeued,
    Succeeded,
    backoff_delay,
)
from conveyor.runtime.worker.publishers import PublisherPolicy
from conveyor.runtime.worker.signals import RejectJob, RetryJob

log = logging.getLogger(__name__)

_RUNNING = (JobState.RUNNING,)
_SETTLE_RETRY_FIRST = 0.5
_SETTLE_RETRY_MAX = 10.0


@dataclass
class _Running:
    envelope: JobEnvelope
    context: JobContext
    task: asyncio.Task[Any]
    cancel_reason: str | None = None
    started: float = field(default_factory=time.monotonic)
    redeliveries: list[JobDelivery] = field(default_factory=list)
    """The job's message again, redelivered after a channel loss while this run goes on: it
    is settled with the run, never run a second time beside it."""


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
        self._running: dict[str, _Running] = {}
        self._starting: dict[str, asyncio.Event] = {}
        """Jobs whose message is being started here (set before the store is asked)."""
        self._processing: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._consumer: DirectConsumer | None = None
        self._processed = 0
        self._failed = 0
        self._paused: set[str] = set()
        self._parking = Parking(broker)
        self._acks = AckBatcher()
        self._parks: set[asyncio.Task[Any]] = set()
        self._publishers = PublisherPolicy.parse(settings.publisher_owners)
        self._shares = OwnerShares(owner_cap(settings.concurrency, settings.owner_concurrency))
        self.on_drain_requested: Callable[[], None] | None = None
        """Called on a ``DrainWorker`` command for this instance; the service then stops."""
        self._heartbeat = Heartbeat(
            store.redis,
            store.keys,
            service=service,
            instance=settings.instance,
            concurrency=settings.concurrency,
            job_types=handlers.job_types,
            interval=settings.heartbeat_interval,
            snapshot=lambda: (list(self._running), self._processed, self._failed),
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start heartbeats, listen for control commands, then start consuming jobs."""
        await self._heartbeat.beat()
        self._heartbeat.start()
        self._channel = await self.broker.open_channel(prefetch=self.settings.concurrency)
        control = await self.broker.declare_instance_queue(
            self._channel,
            "control",
            self.settings.instance,
            exchange=self.broker.topology.control,
            bindings=tuple(
                control_routing_key(command)
                for command in ("cancel_job", "pause_job_type", "resume_job_type", "drain_worker")
            ),
        )
        await control.consume(self._on_control, no_ack=True)
        # Bound first, read second: a pause recorded meanwhile arrives as a command anyway.
        self._paused = await paused_job_types(self.store.redis, self.store.keys)
        # Declared (idempotently), not just looked up: a robust channel declares again, after a
        # reconnect, the queues it declared; the direct consumer then consumes again.
        queue = await self._channel.declare_queue(
            self.queue_name, durable=True, arguments=service_queue_arguments()
        )
        self._consumer = DirectConsumer(self.broker.connection, queue, self._on_message)
        await self._consumer.start()
        log.info(
            "%s worker consuming %s (concurrency %d, types %s)",
            self.service,
            self.queue_name,
            self.settings.concurrency,
            ", ".join(self.handlers.job_types),
        )

    async def drain(self, grace: float | None = None) -> None:
        """Stop taking jobs, give running ones ``grace`` seconds, then requeue the rest."""
        grace = self.settings.shutdown_grace if grace is None else grace
        self._stopping = True
        if self._consumer is not None:
            try:
                await self._consumer.cancel()
            except (aio_pika.exceptions.AMQPError, *CONNECTION_EXCEPTIONS) as exc:
                log.warning("could not cancel the consumer: %s", exc)
        if self._processing:
            log.info("draining %d running job(s), up to %.0f s", len(self._running), grace)
            _, pending = await asyncio.wait(list(self._processing), timeout=grace)
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
        running = self._running.get(job_id)
        if running is None or running.cancel_reason is not None:
            return False
        running.cancel_reason = reason
        running.context.cancel_requested.set()
        running.task.cancel()
        log.info("cancelling job (%s)", reason, extra={"job_id": job_id})
        return True

    @property
    def running_jobs(self) -> list[str]:
        return list(self._running)

    # -- control -------------------------------------------------------------------------------

    async def _on_control(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            command = control_decoder.decode(message.body)
        except msgspec.MsgspecError as exc:
            log.warning("ignoring undecodable control message: %s", exc)
            return
        match command:
            case CancelJob(job_id=job_id):
                self.request_cancel(job_id, CancelReason.CANCELLED)
            case PauseJobType(job_type=job_type):
                self._paused.add(job_type)
                log.info("job type %s paused: parking its messages", job_type)
            case ResumeJobType(job_type=job_type):
                self._paused.discard(job_type)
                log.info("job type %s resumed", job_type)
                task = asyncio.create_task(self._release_parked(job_type))
                self._processing.add(task)
                task.add_done_callback(self._processing.discard)
            case DrainWorker(instance=instance) if instance in (None, self.settings.instance):
                log.info("drain requested through the control exchange")
                if self.on_drain_requested is not None:
                    self.on_drain_requested()

    async def _release_parked(self, job_type: str) -> None:
        # Parks that started before the resume must land first, or their messages would wait
        # in the parked queue until the next resume.
        if self._parks:
            await asyncio.wait(list(self._parks))
        try:
            await release_parked(self.broker, job_type)
        except (BrokerUnavailableError, *CONNECTION_EXCEPTIONS) as exc:
            log.warning("parked %s jobs not released (%s); resume again", job_type, exc)

    async def _park(self, message: JobDelivery, envelope: JobEnvelope) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._parks.add(task)
        try:
            await self._parking.park(envelope.job_type, message)
        finally:
            self._parks.discard(task)
        await _settle_message(self._acks.ack(message))
        log.info("parked a job of paused type %s", envelope.job_type)

    # -- jobs ----------------------------------------------------------------------------------

    async def _on_message(self, message: DeliveredMessage) -> None:
        delivery = JobDelivery(message)
        self._acks.delivered(delivery)  # before any await: deliveries are recorded in order
        if self._stopping:
            await _settle_message(self._acks.nack(delivery))
            return
        # A task of our own, not the consumer's: a closing channel cancels the tasks it made,
        # and a job must be able to finish and record its outcome across a reconnect (its
        # redelivery then finds it finished).
        task = asyncio.create_task(self._process(delivery))
        self._processing.add(task)
        task.add_done_callback(self._processing.discard)

    async def _process(self, message: JobDelivery) -> None:
        try:
            await self._handle_message(message)
        except Exception:
            # Redis or RabbitMQ failed under us: give the message back rather than hold it.
            log.exception("could not process a message; requeueing it shortly")
            await asyncio.sleep(1.0)
            await _settle_message(self._acks.nack(message))

    async def _handle_message(self, message: JobDelivery) -> None:
        try:
            envelope = envelope_decoder.decode(message.body)
        except msgspec.MsgspecError as exc:
            await self._dead_letter(message, ErrorCode.UNDECODABLE_MESSAGE, f"cannot decode: {exc}")
            await _settle_message(self._acks.ack(message))
            return
        handler = self.handlers.get(envelope.job_type)
        if handler is None:
            reason = f"the {self.service} service has no handler for {envelope.job_type!r}"
            await self._dead_letter(message, ErrorCode.UNKNOWN_JOB_TYPE, reason)
            await _settle_message(self._acks.ack(message))
            return
        refusal = self._publishers.refusal(message.user_id, envelope.owner)
        if refusal is not None:
            await self._dead_letter(message, ErrorCode.PUBLISHER_NOT_ALLOWED, refusal, envelope)
            await _settle_message(self._acks.ack(message))
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
        if envelope.job_type in self._paused:
            await self._park(message, envelope)
            return
        if not self._shares.take(envelope):
            await set_aside(self.broker, message, envelope, self.settings.fair_share_delay)
            self.metrics.jobs_set_aside.labels(envelope.job_type).inc()
            await _settle_message(self._acks.ack(message))
            return
        # No await since the check above: a copy delivered from now on waits for this start.
        self._starting[envelope.job_id] = asyncio.Event()
        parent = extract_context(message.headers, envelope.trace_context)
        token = job_id_var.set(envelope.job_id)
        try:
            with remote_child_span(
                f"process {job_routing_key(envelope.job_type)}",
                parent,
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "rabbitmq",
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
        message: JobDelivery,
        envelope: JobEnvelope,
        handler: Handler[Any],
    ) -> Outcome | None:
        queued = _event(JobQueued, envelope, attempt=envelope.attempt)
        started_event = _event(
            JobStarted, envelope, attempt=envelope.attempt, worker=self.settings.instance
        )
        trace_id = current_trace_id()
        started = await self._start(envelope, queued, started_event, trace_id)
        while started.status is StartStatus.RUNNING_ELSEWHERE:
            # Its worker lives (a broker blip redelivered the message here): hold the message
            # until that run ends or that worker dies, which is when it counts as a crash.
            if self._stopping:
                await _settle_message(self._acks.nack(message))
                return None
            await asyncio.sleep(self.settings.heartbeat_interval)
            started = await self._start(envelope, queued, started_event, trace_id)
        if started.status in (StartStatus.DUPLICATE, StartStatus.ID_IN_USE):
            await self._refuse_duplicate(message, envelope, started)
            return None
        if started.status is StartStatus.FINISHED and _missing_dead_letter(started):
            await self._dead_letter_failed(message, envelope)
            await _settle_message(self._acks.ack(message))
            return None
        if started.status in (StartStatus.FINISHED, StartStatus.STALE):
            log.info("skipping %s job (%s)", started.previous_state, started.status.name.lower())
            await _settle_message(self._acks.ack(message))
            return None
        if started.status is StartStatus.CRASHED_TOO_OFTEN:
            error = JobError(
                code=ErrorCode.CRASHED_TOO_OFTEN,
                message=f"a worker died during {started.crashes} deliveries of this job",
            )
            failure = Failed(error, retryable=False)
            await asyncio.shield(self._settle(message, envelope, None, failure))
            return failure
        if started.created is not None:
            self.lifecycle.announce(queued, started.created)
        assert started.started is not None
        self.lifecycle.announce(started_event, started.started)
        series = self.metrics.job_type(envelope.job_type)
        series.queue_wait.observe(max(0.0, (utcnow() - envelope.created_at).total_seconds()))

        context = JobContext(
            job_id=envelope.job_id,
            job_type=envelope.job_type,
            owner=envelope.owner,
            attempt=envelope.attempt,
            max_attempts=envelope.max_attempts,
            priority=envelope.priority,
            delivery=started.crashes + 1,
            trace_id=trace_id,
            _interval=self.settings.progress_interval,
            _loop=asyncio.get_running_loop(),
        )
        context._flush = lambda progress: self._record_progress(envelope, progress)
        task = asyncio.create_task(
            self._call_handler(handler, envelope, context), name=f"job-{envelope.job_id}"
        )
        running = _Running(envelope, context, task)
        self._running[envelope.job_id] = running
        self._started(envelope.job_id)
        series.in_flight.inc()
        try:
            outcome = await self._supervise(running, handler)
        finally:
            series.in_flight.dec()
            series.duration.observe(time.monotonic() - running.started)
        acked = False
        try:
            acked = await asyncio.shield(
                self._settle_once_recorded(message, envelope, context, outcome)
            )
        finally:
            self._running.pop(envelope.job_id, None)
            for again in running.redeliveries:
                await _settle_message(self._acks.ack(again) if acked else self._acks.nack(again))
        return outcome

    async def _settle_once_recorded(
        self,
        message: JobDelivery,
        envelope: JobEnvelope,
        context: JobContext,
        outcome: Outcome,
    ) -> bool:
        """``_settle``, tried again while Redis cannot record the outcome. The handler has run:
        giving the message back instead would run it a second time (each step of ``_settle``
        is safe to repeat: a transition applies once, an ack after the outcome)."""
        delay = _SETTLE_RETRY_FIRST
        while True:
            try:
                return await self._settle(message, envelope, context, outcome)
            except RedisError as exc:
                log.warning("outcome not recorded (%s); trying again in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _SETTLE_RETRY_MAX)

    async def _start(
        self, envelope: JobEnvelope, queued: JobQueued, started: JobStarted, trace_id: str | None
    ) -> Started:
        return await self.store.start(
            envelope,
            queued,
            started,
            worker=self.settings.instance,
            max_crashes=self.settings.max_crashes,
            trace_id=trace_id,
        )

    async def _call_handler(
        self, handler: Handler[Any], envelope: JobEnvelope, context: JobContext
    ) -> Any:
        if not child_spans_recorded():
            return await self.handlers.call(handler, envelope.request, context)
        # A span of its own so the handler's phases nest under it, apart from the harness's
        # bookkeeping (store scripts, events) in the surrounding ``process`` span.
        with tracer.start_as_current_span(
            f"handle {envelope.job_type}", attributes={"conveyor.job_id": envelope.job_id}
        ):
            return await self.handlers.call(handler, envelope.request, context)

    async def _supervise(self, running: _Running, handler: Handler[Any]) -> Outcome:
        soft = handler.soft_time_limit or self.settings.soft_time_limit
        hard = max(handler.hard_time_limit or self.settings.hard_time_limit, soft)
        task = running.task
        try:
            done, _ = await asyncio.wait([task], timeout=soft)
            if not done and self.request_cancel(running.envelope.job_id, CancelReason.TIME_LIMIT):
                log.warning("soft time limit of %.1f s exceeded: cancelling the handler", soft)
            if not done:
                done, _ = await asyncio.wait([task], timeout=hard - soft)
        except asyncio.CancelledError:
            # Our own message task is being torn down: the handler must not outlive it.
            task.cancel()
            raise
        if not done:
            log.error("handler ignored cancellation past the hard time limit; abandoning it")
            message = f"the handler did not stop within the hard time limit of {hard:g} s"
            return Failed(JobError(code=ErrorCode.TIME_LIMIT_EXCEEDED, message=message), False)
        if running.cancel_reason == CancelReason.SHUTDOWN:
            return Requeued()
        if running.cancel_reason == CancelReason.CANCELLED:
            return Cancelled("cancelled by request")
        if running.cancel_reason == CancelReason.TIME_LIMIT:
            message = f"the soft time limit of {soft:g} s was exceeded"
            return Failed(JobError(code=ErrorCode.TIME_LIMIT_EXCEEDED, message=message), False)
        try:
            return Succeeded(task.result())
        except asyncio.CancelledError:
            return Cancelled("the handler cancelled itself")
        except RetryJob as signal:
            error = JobError(code=ErrorCode.HANDLER_ERROR, message=signal.reason)
            return Failed(error, retryable=True, delay=signal.delay)
        except RejectJob as signal:
            return Failed(JobError(code=signal.code, message=signal.reason), False)
        except Exception as exc:
            log.exception("handler failed")
            error = JobError(code=ErrorCode.HANDLER_ERROR, message=f"{type(exc).__name__}: {exc}")
            return Failed(error, retryable=handler.retry)

    async def _record_progress(self, envelope: JobEnvelope, progress: Progress) -> None:
        event = _event(
            JobProgressed,
            envelope,
            done=progress.done,
            total=progress.total,
            message=progress.message,
            eta_seconds=progress.eta_seconds,
        )
        outcome = await self.store.transition(
            envelope.job_id,
            envelope.owner,
            allowed=_RUNNING,
            to=JobState.RUNNING,
            event=event,
            fields={"progress": progress, "updated_at": event.at},
        )
        if outcome.ok and outcome.event is not None:
            self.lifecycle.announce(event, outcome.event)
        elif outcome.previous_state == JobState.CANCELLED:
            # The cancel command may have been lost; the record is the source of truth.
            self.request_cancel(envelope.job_id, CancelReason.CANCELLED)

    # -- outcomes ------------------------------------------------------------------------------

    async def _settle(
        self,
        message: JobDelivery,
        envelope: JobEnvelope,
        context: JobContext | None,
        outcome: Outcome,
    ) -> bool:
        """Record the outcome, then ack (or requeue/nack), then announce it; whether it acked."""
        if context is not None and not isinstance(outcome, Requeued | Cancelled):
            await context.close()
        job_type = envelope.job_type
        match outcome:
            case Succeeded(result):
                event: Any = _event(JobSucceeded, envelope, result=result)
                fields: dict[str, Any] = {"result": result}
                if isinstance(result, FileResult):
                    fields["expires_at"] = result.expires_at  # when its download stops working
                await self._transition(envelope, JobState.SUCCEEDED, event, fields)
                self._processed += 1
                self.metrics.job_type(job_type).succeeded.inc()
            case Cancelled(reason):
                event = _event(JobCancelled, envelope, reason=reason)
                await self._transition(envelope, JobState.CANCELLED, event, {})
                self.metrics.jobs_finished.labels(job_type, "cancelled").inc()
            case Requeued():
                event = _event(JobQueued, envelope, attempt=envelope.attempt)
                await self._transition(envelope, JobState.QUEUED, event, {})
                await _settle_message(self._acks.nack(message))
                return False
            case Failed(error, retryable, delay) if retryable and not _last(envelope):
                return await self._retry(message, envelope, error, delay)
            case Failed(error, _, _):
                event = _event(JobFailed, envelope, error=error)
                await self._transition(envelope, JobState.FAILED, event, {"error": error})
                self._failed += 1
                self.metrics.jobs_finished.labels(job_type, "failed").inc()
                # Recorded failed first, so a redelivery never runs it again; a redelivery
                # after a lost dead letter publishes it (see ``_dead_letter_failed``).
                await self._dead_letter(message, error.code, error.message, envelope)
                await self.store.mark_dead_lettered(envelope.job_id)
        await _settle_message(self._acks.ack(message))
        return True

    async def _transition(
        self, envelope: JobEnvelope, to: JobState, event: Any, fields: dict[str, Any]
    ) -> bool:
        outcome = await self.store.transition(
            envelope.job_id, envelope.owner, allowed=_RUNNING, to=to, event=event, fields=fields
        )
        if not outcome.ok and outcome.previous_state is None and await self._record_again(envelope):
            outcome = await self.store.transition(
                envelope.job_id, envelope.owner, allowed=_RUNNING, to=to, event=event, fields=fields
            )
        if outcome.ok and outcome.event is not None:
            self.lifecycle.announce(event, outcome.event)
        elif outcome.previous_state != JobState.CANCELLED or to != JobState.CANCELLED:
            # Lost a race (usually to a cancel): the record keeps the winner's outcome.
            log.info("job was %s already; %s not recorded", outcome.previous_state, to.value)
        return outcome.ok

    async def _record_again(self, envelope: JobEnvelope) -> bool:
        """Record a job that ran here as running again, its record having vanished meanwhile:
        Redis lost its data (a restart without persistence). Without this the outcome would
        be dropped and the accepted job would have no record at all."""
        log.warning("the job's record is gone (Redis lost its data?); recording it again")
        queued = _event(JobQueued, envelope, attempt=envelope.attempt)
        started_event = _event(
            JobStarted, envelope, attempt=envelope.attempt, worker=self.settings.instance
        )
        started = await self._start(envelope, queued, started_event, current_trace_id())
        if started.status is not StartStatus.STARTED:
            return False
        if started.created is not None:
            self.lifecycle.announce(queued, started.created)
        if started.started is not None:
            self.lifecycle.announce(started_event, started.started)
        return True

    async def _retry(
        self,
        message: JobDelivery,
        envelope: JobEnvelope,
        error: JobError,
        delay: float | None,
    ) -> bool:
        if delay is None:
            delay = backoff_delay(
                envelope.attempt, self.settings.retry_base_delay, self.settings.retry_max_delay
            )
        delay_ms = max(1, round(delay * 1000))
        next_attempt = msgspec.structs.replace(envelope, attempt=envelope.attempt + 1)
        try:
            # Republish before recording: a crash in between leaves a duplicate, which the
            # attempt check discards, instead of a record that waits for a message never sent.
            key, headers = job_routing_key(envelope.job_type), inject_headers({})
            with publish_span(self.broker.topology.delays, key, headers):
                await self.broker.publish_delayed(
                    key,
                    encode(next_attempt),
                    delay_ms,
                    headers=headers,
                    priority=envelope.priority.amqp_priority,
                )
        except BrokerUnavailableError as exc:
            log.error("retry not scheduled (%s); the message goes back to the queue", exc)
            await _settle_message(self._acks.nack(message))
            return False
        event = _event(
            JobRetrying,
            envelope,
            error=error,
            next_attempt=next_attempt.attempt,
            delay_seconds=delay_ms / 1000,
        )
        fields = {"attempt": next_attempt.attempt, "error": error}
        await self._transition(envelope, JobState.RETRYING, event, fields)
        self.metrics.job_retries.labels(envelope.job_type).inc()
        log.info(
            "attempt %d failed (%s); retrying in %.3f s", envelope.attempt, error.message, delay
        )
        await _settle_message(self._acks.ack(message))
        return True

    async def _refuse_duplicate(
        self, message: JobDelivery, envelope: JobEnvelope, started: Started
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
            await self._dead_letter(message, ErrorCode.JOB_ID_IN_USE, reason, envelope)
        await _settle_message(self._acks.ack(message))

    async def _dead_letter_failed(self, message: JobDelivery, envelope: JobEnvelope) -> None:
        """Publish the dead letter a failed job's first settling did not get out."""
        record = await self.store.get(envelope.job_id)
        error = record.error if record is not None else None
        if error is None:
            error = JobError(code=ErrorCode.HANDLER_ERROR, message="failed (reason not recorded)")
        log.warning("publishing the dead letter of a failed job that has none yet")
        await self._dead_letter(message, error.code, error.message, envelope)
        await self.store.mark_dead_lettered(envelope.job_id)

    async def _dead_letter(
        self,
        message: JobDelivery,
        code: ErrorCode,
        reason: str,
        envelope: JobEnvelope | None = None,
    ) -> None:
        """Park the message with its reason in the dead-letter queue (confirmed)."""
        headers = dict(message.headers)
        headers.update(
            {
                HEADER_REASON: reason,
                HEADER_ERROR_CODE: code.value,
                HEADER_SOURCE_QUEUE: self.queue_name,
                HEADER_ROUTING_KEY: message.routing_key or "",
                HEADER_DEAD_AT: utcnow().isoformat(),
            }
        )
        job_type = envelope.job_type if envelope else "unknown"
        await self.broker.publish(
            self.broker.topology.dead_letters,
            "",
            message.body,
            headers=headers,
            mandatory=False,
            message_id=envelope.job_id if envelope else message.message_id,
        )
        self.metrics.dead_letters.labels(job_type, code.value).inc()
        log.warning("dead-lettered: %s", reason)


async def _settle_message(acknowledgement: Awaitable[None]) -> None:
    """Ack or nack; a lost channel is logged, not raised (the broker redelivers, and the
    record's state makes the redelivery a no-op or a clean retry)."""
    try:
        await acknowledgement
    except CONNECTION_EXCEPTIONS as exc:
        log.warning("acknowledgement lost with the channel (%s); expecting a redelivery", exc)


E = TypeVar("E", bound=JobEvent)


def _event(cls: type[E], envelope: JobEnvelope, **fields: Any) -> E:
    return cls(job_id=envelope.job_id, job_type=envelope.job_type, owner=envelope.owner, **fields)


def _missing_dead_letter(started: Started) -> bool:
    return started.previous_state == JobState.FAILED.value and not started.dead_lettered


def _last(envelope: JobEnvelope) -> bool:
    return envelope.attempt >= envelope.max_attempts
