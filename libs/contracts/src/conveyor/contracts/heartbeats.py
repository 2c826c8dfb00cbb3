"""Worker heartbeats, written to Redis every few seconds."""

from __future__ import annotations

import datetime as dt

from conveyor.contracts._base import Message


class WorkerHeartbeat(Message, kw_only=True):
    service: str
    instance: str
    host: str
    pid: int
    concurrency: int
    running_jobs: list[str]
    processed: int
    failed: int
    started_at: dt.datetime
    seen_at: dt.datetime
    job_types: list[str] = []
