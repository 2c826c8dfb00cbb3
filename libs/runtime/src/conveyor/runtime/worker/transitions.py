"""Recording a job's state change from running, and announcing it when it applied (recording
the job again first when its record vanished while it ran)."""

from __future__ import annotations

import logging
from typing import Any

from conveyor.contracts.events import JobQueued, JobStarted
from conveyor.contracts.jobs import JobEnvelope
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore, StartStatus
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.settings import WorkerSettings
from conveyor.runtime.telemetry import current_trace_id
from conveyor.runtime.worker.job_events import job_event

log = logging.getLogger(__name__)

_RUNNING = (JobState.RUNNING,)
_START_LOST = (None, JobState.QUEUED, JobState.RETRYING)


async def record_transition(
    store: JobStore,
    lifecycle: JobLifecycle,
    envelope: JobEnvelope,
    to: JobState,
    event: Any,
    fields: dict[str, Any],
    *,
    settings: WorkerSettings,
) -> bool:
    """Move the running job to ``to`` and announce ``event``; whether the record took it."""
    outcome = await store.transition(
        envelope.job_id, envelope.owner, allowed=_RUNNING, to=to, event=event, fields=fields
    )
    # No record, or one that never saw this attempt start: Redis lost writes (a restart
    # without persistence, or a failover before they reached the replica).
    lost = not outcome.ok and outcome.previous_state in _START_LOST
    if lost and await _record_again(store, lifecycle, envelope, settings):
        outcome = await store.transition(
            envelope.job_id, envelope.owner, allowed=_RUNNING, to=to, event=event, fields=fields
        )
    if outcome.ok and outcome.event is not None:
        lifecycle.announce(event, outcome.event)
    elif outcome.previous_state != JobState.CANCELLED or to != JobState.CANCELLED:
        # Lost a race (usually to a cancel): the record keeps the winner's outcome.
        log.info("job was %s already; %s not recorded", outcome.previous_state, to.value)
    return outcome.ok


async def _record_again(
    store: JobStore, lifecycle: JobLifecycle, envelope: JobEnvelope, settings: WorkerSettings
) -> bool:
    """Record a job that ran here as running again, its record having vanished or gone back to
    before this attempt's start: Redis lost writes. Without this the outcome would be dropped
    and the accepted job would never reach a final state. The start script refuses a stale
    attempt or a finished job, so only the record of the attempt that ran is mended."""
    log.warning("the job's record lost this attempt's start (Redis lost writes?); recording again")
    queued = job_event(JobQueued, envelope, attempt=envelope.attempt)
    started_event = job_event(
        JobStarted, envelope, attempt=envelope.attempt, worker=settings.instance
    )
    started = await store.start(
        envelope,
        queued,
        started_event,
        worker=settings.instance,
        max_crashes=settings.max_crashes,
        trace_id=current_trace_id(),
    )
    if started.status is not StartStatus.STARTED:
        return False
    if started.created is not None:
        lifecycle.announce(queued, started.created)
    if started.started is not None:
        lifecycle.announce(started_event, started.started)
    return True
