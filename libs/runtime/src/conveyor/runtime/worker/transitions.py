"""Recording a job's state change from running, and announcing it when it applied."""

from __future__ import annotations

import logging
from typing import Any

from conveyor.contracts.jobs import JobEnvelope
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle

log = logging.getLogger(__name__)

_RUNNING = (JobState.RUNNING,)


async def record_transition(
    store: JobStore,
    lifecycle: JobLifecycle,
    envelope: JobEnvelope,
    to: JobState,
    event: Any,
    fields: dict[str, Any],
) -> bool:
    """Move the running job to ``to`` and announce ``event``; whether the record took it."""
    outcome = await store.transition(
        envelope.job_id, envelope.owner, allowed=_RUNNING, to=to, event=event, fields=fields
    )
    if outcome.ok and outcome.event is not None:
        lifecycle.announce(event, outcome.event)
    elif outcome.previous_state != JobState.CANCELLED or to != JobState.CANCELLED:
        # Lost a race (usually to a cancel): the record keeps the winner's outcome.
        log.info("job was %s already; %s not recorded", outcome.previous_state, to.value)
    return outcome.ok
