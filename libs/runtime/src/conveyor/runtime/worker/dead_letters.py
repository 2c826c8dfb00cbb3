"""Dead-lettering: a message that cannot or must not run goes to the dead-letter queue with
its reason, where an operator can inspect and replay it."""

from __future__ import annotations

import logging

from conveyor.contracts.errors import ErrorCode, JobError
from conveyor.contracts.jobs import JobEnvelope, utcnow
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import (
    HEADER_DEAD_AT,
    HEADER_ERROR_CODE,
    HEADER_REASON,
    HEADER_ROUTING_KEY,
    HEADER_SOURCE_QUEUE,
)
from conveyor.runtime.broker import Broker
from conveyor.runtime.jobstore import JobStore, Started
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.transport.amqp_delivery import Delivery

log = logging.getLogger(__name__)


class DeadLetters:
    """Publishes dead letters of one service queue (confirmed), with their reason headers."""

    def __init__(self, broker: Broker, store: JobStore, metrics: Metrics, queue_name: str) -> None:
        self._broker = broker
        self._store = store
        self._metrics = metrics
        self._queue_name = queue_name

    async def publish(
        self,
        message: Delivery,
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
                HEADER_SOURCE_QUEUE: self._queue_name,
                HEADER_ROUTING_KEY: message.routing_key or "",
                HEADER_DEAD_AT: utcnow().isoformat(),
            }
        )
        job_type = envelope.job_type if envelope else "unknown"
        await self._broker.publish(
            self._broker.topology.dead_letters,
            "",
            message.body,
            headers=headers,
            mandatory=False,
            message_id=envelope.job_id if envelope else message.message_id,
        )
        self._metrics.dead_letters.labels(job_type, code.value).inc()
        log.warning("dead-lettered: %s", reason)

    async def publish_failure(
        self, message: Delivery, envelope: JobEnvelope, error: JobError
    ) -> None:
        """Dead-letter a job recorded failed, then mark its record dead-lettered.

        Recorded failed first, so a redelivery never runs it again; a redelivery after a lost
        dead letter publishes it (``publish_missing``).
        """
        await self.publish(message, error.code, error.message, envelope)
        await self._store.mark_dead_lettered(envelope.job_id)

    async def publish_missing(self, message: Delivery, envelope: JobEnvelope) -> None:
        """Publish the dead letter a failed job's first settling did not get out."""
        record = await self._store.get(envelope.job_id)
        error = record.error if record is not None else None
        if error is None:
            error = JobError(code=ErrorCode.HANDLER_ERROR, message="failed (reason not recorded)")
        log.warning("publishing the dead letter of a failed job that has none yet")
        await self.publish_failure(message, envelope, error)


def dead_letter_missing(started: Started) -> bool:
    """Whether a redelivered job was recorded failed but its dead letter never confirmed."""
    return started.previous_state == JobState.FAILED.value and not started.dead_lettered
