"""Job records and event history in Redis, changed only by atomic Lua transitions.

A job is a hash with an event stream, indexed by owner and time (``layout``). Every transition
checks the current state, writes the new fields, assigns the next ``seq`` and appends the event
to the job's stream and to its owner's stream in one script (``scripts``): a state change and
its event can never diverge, and of two racing transitions (cancel vs finish) exactly one wins.
``records`` encodes and decodes the hash, ``retention`` removes old records.
"""

from __future__ import annotations

from conveyor.contracts.errors import JobError
from conveyor.contracts.records import Progress
from conveyor.runtime.jobstore.outcomes import (
    Appended,
    HistoryEntry,
    Started,
    StartStatus,
    Transitioned,
)
from conveyor.runtime.jobstore.records import decode_cursor, encode_cursor
from conveyor.runtime.jobstore.retention import Purged
from conveyor.runtime.jobstore.store import JobStore

__all__ = [
    "Appended",
    "HistoryEntry",
    "JobError",
    "JobStore",
    "Progress",
    "Purged",
    "StartStatus",
    "Started",
    "Transitioned",
    "decode_cursor",
    "encode_cursor",
]
