"""Per-user limits kept in Redis: submit rate, jobs in flight, connections, export bytes."""

from conveyor.runtime.limits.store import (
    Admission,
    ExportRoom,
    LimitStore,
    Reservation,
    SubmitAdmission,
    SubmitLimits,
)

__all__ = [
    "Admission",
    "ExportRoom",
    "LimitStore",
    "Reservation",
    "SubmitAdmission",
    "SubmitLimits",
]
