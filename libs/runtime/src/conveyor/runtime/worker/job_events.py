"""Building a job's lifecycle events from its envelope."""

from __future__ import annotations

from typing import Any, TypeVar

from conveyor.contracts.events import JobEvent
from conveyor.contracts.jobs import JobEnvelope

E = TypeVar("E", bound=JobEvent)


def job_event(cls: type[E], envelope: JobEnvelope, **fields: Any) -> E:
    """A ``cls`` event of the job ``envelope`` carries (its id, type and owner filled in)."""
    return cls(job_id=envelope.job_id, job_type=envelope.job_type, owner=envelope.owner, **fields)
