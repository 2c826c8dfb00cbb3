"""Settling an attempt: record its outcome, then ack (or requeue), then announce it.

Outcome recording and acks run under ``asyncio.shield`` (the caller's) so a shutdown cannot
half-record an outcome; each step is safe to repeat, so a Redis outage is waited out rather
than the message given back (which would run the handler a second time).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.exceptions import RedisError

from conveyor.contracts.events import JobCancelled, JobFailed, JobQueued, JobSucceeded
from conveyor.contracts.jobs import FileResult, JobEnvelope
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.settings import WorkerSettings
from conveyor.runtime.transport.amqp_acks import Acks, settle_delivery
from conveyor.runtime.transport.amqp_delivery import Delivery
from conveyor.runtime.worker.context import JobContext
from conveyor.runtime.worker.dead_letters import DeadLetters
from conveyor.runtime.worker.job_events import job_event
from conveyor.runtime.worker.outcomes import Cancelled, Failed, Outcome, Requeued, Succeeded
from conveyor.runtime.worker.retries import Retries, retries_left
from conveyor.runtime.worker.transitions import record_transition

log = logging.getLogger(__name__)

_SETTLE_RETRY_FIRST = 0.5
_SETTLE_RETRY_MAX = 10.0


class Settler:
    """Turns an outcome into the record, the message's ack and the announced event."""

    def __init__(
        self,
        *,
        store: JobStore,
        lifecycle: JobLifecycle,
        metrics: Metrics,
        acks: Acks,
        retries: Retries,
        dead_letters: DeadLetters,
        settings: WorkerSettings,
    ) -> None:
        self._settings = settings
        self._store = store
        self._lifecycle = lifecycle
        self._metrics = metrics
        self._acks = acks
        self._retries = retries
        self._dead_letters = dead_letters
        self.succeeded = 0
        self.failed = 0

    async def settle_once_recorded(
        self,
        message: Delivery,
        envelope: JobEnvelope,
        context: JobContext,
        outcome: Outcome,
    ) -> bool:
        """``settle``, tried again while Redis cannot record the outcome. The handler has run:
        giving the message back instead would run it a second time (each step of ``settle``
        is safe to repeat: a transition applies once, an ack after the outcome)."""
        delay = _SETTLE_RETRY_FIRST
        while True:
            try:
                return await self.settle(message, envelope, context, outcome)
            except RedisError as exc:
                log.warning("outcome not recorded (%s); trying again in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _SETTLE_RETRY_MAX)

    async def settle(
        self,
        message: Delivery,
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
                event: Any = job_event(JobSucceeded, envelope, result=result)
                fields: dict[str, Any] = {"result": result}
                if isinstance(result, FileResult):
                    fields["expires_at"] = result.expires_at  # when its download stops working
                await self._transition(envelope, JobState.SUCCEEDED, event, fields)
                self.succeeded += 1
                self._metrics.job_type(job_type).succeeded.inc()
            case Cancelled(reason):
                event = job_event(JobCancelled, envelope, reason=reason)
                await self._transition(envelope, JobState.CANCELLED, event, {})
                self._metrics.jobs_finished.labels(job_type, "cancelled").inc()
            case Requeued():
                event = job_event(JobQueued, envelope, attempt=envelope.attempt)
                await self._transition(envelope, JobState.QUEUED, event, {})
                await settle_delivery(self._acks.nack(message))
                return False
            case Failed(error, _, delay) if retries_left(outcome, envelope):
                return await self._retries.retry(message, envelope, error, delay)
            case Failed(error, _, _):
                event = job_event(JobFailed, envelope, error=error)
                await self._transition(envelope, JobState.FAILED, event, {"error": error})
                self.failed += 1
                self._metrics.jobs_finished.labels(job_type, "failed").inc()
                await self._dead_letters.publish_failure(message, envelope, error)
        await settle_delivery(self._acks.ack(message))
        return True

    async def _transition(
        self, envelope: JobEnvelope, to: JobState, event: Any, fields: dict[str, Any]
    ) -> bool:
        return await record_transition(
            self._store, self._lifecycle, envelope, to, event, fields, settings=self._settings
        )
