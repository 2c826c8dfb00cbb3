"""Per-user limits kept in Redis: submit rate, jobs in flight, connections, export bytes."""

from conveyor.runtime.limits.store import (
    Admission,
    ExportRoom,
    LimitStore,
    SubmitAdmission,
)

__all__ = ["Admission", "ExportRoom", "LimitStore", "SubmitAdmission"]
