"""Helpers of the maintenance tests: fast scheduler settings; the schedules and the tap on the
jobs exchange are shared with the scheduler benchmark (conveyor.dev_support.schedules)."""

from __future__ import annotations

from conveyor.dev_support.schedules import JobsTap, every_second, fire_time_of, tap_jobs
from tests.support.jobs import FAST_WORKER_ENV

__all__ = ["FAST_SCHEDULER_ENV", "JobsTap", "every_second", "fire_time_of", "tap_jobs"]

FAST_SCHEDULER_ENV = {
    **FAST_WORKER_ENV,
    "CONVEYOR_SCHEDULER_ENABLED": "true",
    "CONVEYOR_SCHEDULER_LOCK_TTL": "1.5",
    "CONVEYOR_SCHEDULER_SYNC_INTERVAL": "0.5",
}
"""A dead leader is replaced within about two seconds; schedule edits load within half a one."""
