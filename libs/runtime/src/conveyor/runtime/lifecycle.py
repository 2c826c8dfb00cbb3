"""Job lifecycle operations shared by the gateway and the workers.

Each operation records a transition in Redis first (the source of truth, which assigns the
event's ``seq``) and then announces the event on the ``events`` exchange. Announcing only
queues the event: one task per process publishes the outbox (``conveyor.runtime.event_outbox``,
which may fold a job's close events into one message), so the job path never waits for it,
and a lost announcement is recovered by readers from the Redis history. ``drain()`` waits
(bounded) for the outbox to empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import SpanKind
from redis.exceptions import RedisError

from conveyor.contracts.codecs import encode
from conveyor.contracts.control import CancelJob
from conveyor.contracts.events import JOB_EVENT_KINDS, JobCancelled, JobEvent, JobQueued
from conveyor.contracts.jobs import JobEnvelope
from conveyor.contracts.records import JobRecord, JobState

# The cursor headers are part of the events' contract (the AsyncAPI document names them);
# re-exported here for the readers that import them from the lifecycle.
from conveyor.contracts.topology import HEADER_CURSOR as HEADER_CURSOR
from conveyor.contracts.topology import HEADER_PREV_CURSOR as HEADER_PREV_CURSOR
from conveyor.contracts.topology import command_routing_key, job_routing_key
from conveyor.runtime.broker import Broker, BrokerUnavailableError, PublishUnconfirmedError
from conveyor.runtime.event_outbox import Entry, EventOutbox, message_of, routing_key
from conveyor.runtime.jobstore import Appended, JobStore, Transitioned
from conveyor.runtime.telemetry import (
    child_spans_recorded,
    current_trace_id,
    inject_headers,
    publish_span,
    publish_span_recorded,
    tracer,
)
from conveyor.runtime.unconfirmed_jobs import UnconfirmedJobs

log = logging.getLogger(__name__)

_Submitted = JobRecord | tuple[JobQueued, Appended] | None
"""A submit's outcome: the record a worker had already moved on, or the ``job.queued`` this
submit recorded (to announce), or None (not recorded here: its worker records it)."""

FOLDED_EVENTS_ATTRIBUTE = "conveyor.folded_events"
"""On an event's publish span: the number of events its (folded) message carried."""

CANCELLABLE = (JobState.QUEUED, JobState.RUNNING, JobState.RETRYING)


class JobLifecycle:
    """Submit, announce and cancel jobs: Redis first, then the broker."""

    def __init__(
        self,
        store: JobStore,
        broker: Broker,
        unconfirmed: UnconfirmedJobs | None = None,
        *,
        fold_window: float = 0.0,
    ) -> None:
        self.store = store
        self.broker = broker
        self.unconfirmed = unconfirmed
        """Where a submit whose publish got no confirm is kept to be published again; without
        it such a submit raises ``PublishUnconfirmedError``."""
        # ``fold_window``: how long a job's first event may wait for the job's next ones, to
        # go out folded with them (``conveyor.runtime.event_outbox``); 0 publishes each alone.
        self._outbox = EventOutbox(self._publish_events, fold_window=fold_window)
        self._submits: set[asyncio.Future[_Submitted]] = set()
        """Submits under way, held while a cancelled caller no longer awaits them."""
        self.on_queued: Callable[[Appended], None] | None = None
        """Given each ``job.queued`` this process announces at submit, as it announces it: a
        reader in this process (the gateway's WebSockets) that should not wait for the broker
        to bring the event back. That copy still comes, and the reader drops it as seen."""

    async def submit(self, envelope: JobEnvelope) -> bool:
        """Publish the job (confirmed) and record it as queued; ``True`` if this call created
        the record. Raises ``BrokerUnavailableError`` (see ``submit_or_existing``)."""
        return await self.submit_or_existing(envelope) is None

    async def submit_or_existing(
        self, envelope: JobEnvelope, *, amqp_priority: int | None = None
    ) -> JobRecord | None:
        """Publish the job and record it as queued; returns the record a worker already created
        and moved on (as of the attempt to create it), else ``None``: this call created the
        record, or could not.

        The record is written while the broker's confirm is awaited (after it for a job with
        an idempotency key), and ``job.queued`` is announced only once the broker has the
        job. A job the broker refused (``BrokerUnavailableError``) is raised and its record
        taken back (``withdraw``): a refused job leaves nothing recorded. Once the broker has
        confirmed the job it will run, so a Redis failure is not raised: the job's worker
        creates the record when it starts the job. Raising would tell the caller the job was
        not taken, and a caller that retried would get it twice. A publish that went out
        without a confirm is kept in ``unconfirmed`` (published again until confirmed) with
        its record, and counts as taken; ``PublishUnconfirmedError`` only if Redis could not
        keep it either.

        Runs to its end even if the caller is cancelled meanwhile, so a cancelled request
        neither leaves a refused job's record nor a confirmed job unannounced.

        ``amqp_priority`` queues the job at another priority than its envelope's (fair share).
        """
        priority = envelope.priority.amqp_priority if amqp_priority is None else amqp_priority
        # The caller waits on ``answer``, which the submit settles just before it ends: its
        # cancellation cancels only that future (as ``asyncio.shield`` would, one wake-up
        # later), and the announcement, in a callback of the task's end, comes after the
        # caller's wake-up, so the caller writes its own answer first.
        answer: asyncio.Future[_Submitted] = asyncio.get_running_loop().create_future()
        submitting = asyncio.ensure_future(self._submit_answering(envelope, priority, answer))
        self._submits.add(submitting)
        submitting.add_done_callback(self._submits.discard)
        submitting.add_done_callback(self._announce_queued)
        outcome = await answer
        return outcome if isinstance(outcome, JobRecord) else None

    async def _submit_answering(
        self, envelope: JobEnvelope, priority: int, answer: asyncio.Future[_Submitted]
    ) -> _Submitted:
        try:
            outcome = await self._submit(envelope, priority)
        except asyncio.CancelledError:
            answer.cancel()
            raise
        except BaseException as exc:
            if not answer.done():  # done: its caller was cancelled
                answer.set_exception(exc)
            raise
        if not answer.done():
            answer.set_result(outcome)
        return outcome

    def _announce_queued(self, submitting: asyncio.Future[_Submitted]) -> None:
        if submitting.cancelled() or submitting.exception() is not None:
            return
        outcome = submitting.result()
        if not isinstance(outcome, tuple):
            return  # not created here
        queued, appended = outcome
        if self.on_queued is not None and appended.replicated:
            self.on_queued(appended)
        self.announce(queued, appended)

    async def _submit(self, envelope: JobEnvelope, priority: int) -> _Submitted:
        """The existing record, or the created one's queued event to announce, or None."""
        queued = JobQueued(
            job_id=envelope.job_id,
            job_type=envelope.job_type,
            owner=envelope.owner,
            attempt=envelope.attempt,
        )
        # Written while the confirm is awaited, not after it. Without a broker connection the
        # publish fails at once: then nothing is written and taken back. A keyed job's record
        # is a promise (a request repeating its Idempotency-Key is answered 202 with it), so it
        # is written only once the broker has the job, as a replay must not outrun a refusal.
        early = envelope.idempotency_key is None and self.broker.is_available
        creating = self._create(envelope, queued, after_publish=True) if early else None
        headers: dict[str, Any] = {}
        try:
            await self._publish_traced(envelope, priority, headers)
        except PublishUnconfirmedError as exc:
            try:
                await self._hold_unconfirmed(envelope, priority, headers, exc)
            except PublishUnconfirmedError:
                # Not kept, so answered as not taken: as if never recorded (if the broker had
                # the job after all, its worker records it).
                await self._take_back(envelope, creating)
                raise
        except BaseException:
            await self._take_back(envelope, creating)
            raise
        try:
            outcome = await (creating or self._create(envelope, queued))
        except RedisError as exc:
            log.warning(
                "job %s queued but not recorded (its worker will record it): %s",
                envelope.job_id,
                exc,
                extra={"job_id": envelope.job_id},
            )
            return None
        if isinstance(outcome, JobRecord):
            return outcome
        return queued, outcome

    async def _publish_traced(
        self, envelope: JobEnvelope, priority: int, headers: dict[str, Any]
    ) -> None:
        """Publish the job (confirmed) in a PRODUCER span if one is recorded; the trace
        context goes into ``headers`` (kept with the job if no confirm comes)."""
        if not child_spans_recorded():  # the span could not be recorded: the caller's context
            await self._publish_job(envelope, priority, inject_headers(headers))
            return
        with tracer.start_as_current_span(
            f"publish {job_routing_key(envelope.job_type)}",
            kind=SpanKind.PRODUCER,
            attributes={"messaging.system": "rabbitmq", "conveyor.job_id": envelope.job_id},
        ):
            await self._publish_job(envelope, priority, inject_headers(headers))

    def _create(
        self, envelope: JobEnvelope, queued: JobQueued, *, after_publish: bool = False
    ) -> asyncio.Task[Appended | JobRecord]:
        # Idempotent (create, or read what exists): the client may retry it safely.
        return asyncio.ensure_future(
            self._create_record(envelope, queued, current_trace_id(), after_publish)
        )

    async def _create_record(
        self, envelope: JobEnvelope, queued: JobQueued, trace_id: str | None, after_publish: bool
    ) -> Appended | JobRecord:
        if after_publish:
            # Started before the publish, this task would run ahead of the connection's writer
            # that the publish wakes: one turn of the loop later, the job's frames leave first
            # (the confirm, which the 202 awaits, takes longer than the record anyway).
            await asyncio.sleep(0)
        return await self.store.create_or_get(envelope, queued, trace_id=trace_id)

    async def _take_back(
        self, envelope: JobEnvelope, creating: asyncio.Task[Appended | JobRecord] | None
    ) -> None:
        """Remove the record this submit wrote for a job answered as not taken."""
        if creating is None:
            return
        try:
            outcome = await creating
        except Exception:  # the caller gets the publish's error; this one says nothing new
            outcome = None  # it may have been written all the same: look for it
        if isinstance(outcome, JobRecord):
            return  # it existed before this submit: not ours to take back
        try:
            await self.store.withdraw(envelope, outcome.cursor if outcome is not None else "")
        except RedisError as exc:
            log.error(
                "job %s: the broker refused it and its record could not be removed: %s",
                envelope.job_id,
                exc,
                extra={"job_id": envelope.job_id},
            )

    async def _publish_job(
        self, envelope: JobEnvelope, priority: int, headers: dict[str, Any]
    ) -> None:
        await self.broker.publish(
            self.broker.topology.jobs,
            job_routing_key(envelope.job_type),
            encode(envelope),
            headers=headers,
            priority=priority,
            message_id=envelope.job_id,
        )

    async def _hold_unconfirmed(
        self,
        envelope: JobEnvelope,
        priority: int,
        headers: dict[str, Any],
        exc: PublishUnconfirmedError,
    ) -> None:
        """Keep a job RabbitMQ may or may not have, to be published again; re-raise if not."""
        if self.unconfirmed is None:
            raise exc
        try:
            kept = {name: str(value) for name, value in headers.items()}
            await self.unconfirmed.hold(envelope, priority, kept)
        except RedisError as redis_exc:
            log.error(
                "job %s: no publish confirm and Redis cannot keep it to publish again: %s",
                envelope.job_id,
                redis_exc,
                extra={"job_id": envelope.job_id},
            )
            raise exc from redis_exc
        log.warning(
            "job %s: no publish confirm (%s); kept to be published again until confirmed",
            envelope.job_id,
            exc,
            extra={"job_id": envelope.job_id},
        )

    async def cancel(self, job_id: str, owner: str, job_type: str, reason: str) -> Transitioned:
        """Cancel a queued, retrying or running job; tell its worker if it was running."""
        event = JobCancelled(job_id=job_id, job_type=job_type, owner=owner, reason=reason)
        outcome = await self.store.transition(
            job_id, owner, allowed=CANCELLABLE, to=JobState.CANCELLED, event=event
        )
        if outcome.ok and outcome.event is not None:
            self.announce(event, outcome.event)
            if outcome.previous_state == JobState.RUNNING:
                await self.broker.publish(
                    self.broker.topology.control,
                    command_routing_key(CancelJob),
                    encode(CancelJob(job_id=job_id)),
                    persistent=False,
                    mandatory=False,
                )
        return outcome

    def announce(self, event: JobEvent, appended: Appended) -> None:
        """Queue a recorded event for publishing (in order, in the background).

        An event the replicas did not acknowledge (``Appended.replicated``) is not announced:
        during a failover it may have been written on the replaced master, whose history is
        dropped, and its owner-stream cursor belongs to no history a reader can ever fetch.
        Announced anyway, it would move the WebSocket's mark past events of the surviving
        history written at the same moment. If the write survives, readers find it in the
        history, as they do any announcement that was lost.
        """
        if not appended.replicated:
            log.info(
                "event %s seq %d of job %s not announced: no replica acknowledged it",
                JOB_EVENT_KINDS[type(event)],
                appended.seq,
                event.job_id,
                extra={"job_id": event.job_id},
            )
            return
        # The trace context is taken here, in the caller's span: the outbox task has its own.
        headers: dict[str, Any] = {
            HEADER_CURSOR: appended.cursor,
            HEADER_PREV_CURSOR: appended.prev_cursor,
        }
        self._outbox.put((event, appended, inject_headers(headers)))

    async def _publish_events(self, groups: list[list[Entry]]) -> None:
        """Publish one message per group (an event, or a job's events folded) in one write."""
        try:
            if not any(
                publish_span_recorded(headers) for group in groups for _, _, headers in group
            ):
                # The hot path: no span to make.
                await self.broker.publish_events([message_of(group) for group in groups])
                return
            exchange = self.broker.topology.events
            with contextlib.ExitStack() as spans:
                # One span per event, folded or not, each in the trace of whoever announced it
                # (its headers), even though the outbox task runs in a context of its own.
                for group in groups:
                    # A folded event's span says how many events its message carried.
                    folded = {FOLDED_EVENTS_ATTRIBUTE: len(group)} if len(group) > 1 else None
                    for event, _, headers in group:
                        span = publish_span(exchange, routing_key(event), headers, folded)
                        spans.enter_context(span)
                await self.broker.publish_events([message_of(group) for group in groups])
        except BrokerUnavailableError as exc:
            # Readers recover the events from the jobs' Redis histories; nothing is lost.
            for group in groups:
                for event, appended, _ in group:
                    log.warning(
                        "event %s seq %d not announced: %s",
                        routing_key(event),
                        appended.seq,
                        exc,
                        extra={"job_id": event.job_id},
                    )

    async def drain(self, grace: float = 5.0) -> None:
        """Let submits under way end (bounded: their callers may already have their answer,
        and their announcements follow), publish held events now, wait (bounded) for the
        outbox to empty, stop its task."""
        if self._submits:
            await asyncio.wait(set(self._submits), timeout=grace)
        await self._outbox.drain(grace)
