"""Retrying a failed attempt: whether it gets another, when, and how it is scheduled.

A retryable failure (``RetryJob``, or an unexpected exception of a handler registered with
``retry=True``) with attempts left is republished to the delay queue of its backoff and
recorded ``retrying``; the last attempt's failure is dead-lettered instead (``settle``).
"""

from __future__ import annotations

import logging

import msgspec

from conveyor.contracts.codecs import encode
from conveyor.contracts.errors import JobError
from conveyor.contracts.events import JobRetrying
from conveyor.contracts.jobs import JobEnvelope
from conveyor.contracts.records import JobState
from conveyor.contracts.topology import job_routing_key
from conveyor.runtime.broker import Broker, BrokerUnavailableError
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.settings import WorkerSettings
from conveyor.runtime.telemetry import inject_headers, publish_span
from conveyor.runtime.transport.amqp_acks import Acks, settle_delivery
from conveyor.runtime.transport.amqp_delivery import Delivery
from conveyor.runtime.worker.job_events import job_event
from conveyor.runtime.worker.outcomes import Failed
from conveyor.runtime.worker.transitions import record_transition

log = logging.getLogger(__name__)


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds to wait before attempt ``attempt + 1``: base, 2*base, 4*base, ... up to cap."""
    return float(min(cap, base * 2 ** (attempt - 1)))


def retries_left(failure: Failed, envelope: JobEnvelope) -> bool:
    """Whether this failure is retried: it is retryable and the attempt is not the last."""
    return failure.retryable and envelope.attempt < envelope.max_attempts


class Retries:
    """Schedules the next attempt of a failed job through the delay queues."""

    def __init__(
        self,
        *,
        broker: Broker,
        store: JobStore,
        lifecycle: JobLifecycle,
        metrics: Metrics,
        settings: WorkerSettings,
        acks: Acks,
    ) -> None:
        self._broker = broker
        self._store = store
        self._lifecycle = lifecycle
        self._metrics = metrics
        self._settings = settings
        self._acks = acks

    async def retry(
        self,
        message: Delivery,
        envelope: JobEnvelope,
        error: JobError,
        delay: float | None,
    ) -> bool:
        """Republish the next attempt delayed, record ``retrying``, ack; whether it acked.

        When the broker cannot take the retry, the message goes back to the queue instead.
        """
        if delay is None:
            delay = backoff_delay(
                envelope.attempt, self._settings.retry_base_delay, self._settings.retry_max_delay
            )
        delay_ms = max(1, round(delay * 1000))
        next_attempt = msgspec.structs.replace(envelope, attempt=envelope.attempt + 1)
        try:
            # Republish before recording: a crash in between leaves a duplicate, which the
            # attempt check discards, instead of a record that waits for a message never sent.
            key, headers = job_routing_key(envelope.job_type), inject_headers({})
            with publish_span(self._broker.topology.delays, key, headers):
                await self._broker.publish_delayed(
                    key,
                    encode(next_attempt),
                    delay_ms,
                    headers=headers,
                    priority=envelope.priority.amqp_priority,
                )
        except BrokerUnavailableError as exc:
            log.error("retry not scheduled (%s); the message goes back to the queue", exc)
            await settle_delivery(self._acks.nack(message))
            return False
        event = job_event(
            JobRetrying,
            envelope,
            error=error,
            next_attempt=next_attempt.attempt,
            delay_seconds=delay_ms / 1000,
        )
        fields = {"attempt": next_attempt.attempt, "error": error}
        await record_transition(
            self._store,
            self._lifecycle,
            envelope,
            JobState.RETRYING,
            event,
            fields,
            settings=self._settings,
        )
        self._metrics.job_retries.labels(envelope.job_type).inc()
        log.info(
            "attempt %d failed (%s); retrying in %.3f s", envelope.attempt, error.message, delay
        )
        await settle_delivery(self._acks.ack(message))
        return True
