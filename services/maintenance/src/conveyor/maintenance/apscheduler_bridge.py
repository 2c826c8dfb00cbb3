"""APScheduler 3 below its user API: an executor that tells each job which fire time it runs for.

APScheduler 3 does not pass a job its scheduled run time, and the schedule's idempotency key
needs it; no listener, trigger or job option provides it (``EVENT_JOB_SUBMITTED`` carries
the run times but not which call runs which). So this is needed for correctness, not speed,
and has no fast/plain variant. It uses the extension point APScheduler 3 documents for
custom executors ("Extending APScheduler": subclass ``BaseExecutor``, implement
``_do_submit_job``, report through ``_run_job_success`` / ``_run_job_error``), and none of
``AsyncIOExecutor``'s or ``Job``'s private state. ``tests/maintenance/test_apscheduler_bridge.py``
holds it to the installed APScheduler; the dependency is bounded to 3.x (``<4``: APScheduler 4
replaces executors altogether). No other module touches APScheduler's protected names
(``tests/test_library_boundaries.py``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from datetime import timedelta
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.base import BaseExecutor
from apscheduler.job import Job

log = logging.getLogger(__name__)

JOBSTORE = "default"
"""The job store every schedule is added to (``add_job(jobstore=JOBSTORE)``)."""


class FiringExecutor(BaseExecutor):  # type: ignore[misc]
    """Runs a coroutine job on the running event loop with ``fire_time=<its run time>``.

    Misfire handling is APScheduler's, as in its own executors: a run time later than the
    job's grace time is skipped and reported as missed; ``coalesce`` and ``max_instances``
    are applied by the scheduler before a job gets here.
    """

    def __init__(self) -> None:
        super().__init__()
        self._tasks: set[asyncio.Task[list[JobExecutionEvent]]] = set()

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        # ``scheduler.start()`` is called on the running loop (AsyncIOScheduler requires it).
        self._loop = asyncio.get_running_loop()

    def shutdown(self, wait: bool = True) -> None:
        # Like AsyncIOExecutor: a coroutine cannot be waited for here, so running firings
        # are cancelled (each firing's claim and publish are idempotent per fire time).
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()

    def _do_submit_job(self, job: Job, run_times: list[dt.datetime]) -> None:
        def done(task: asyncio.Task[list[JobExecutionEvent]]) -> None:
            self._tasks.discard(task)
            try:
                events = task.result()
            except BaseException:
                self._run_job_error(job.id, *sys.exc_info()[1:])
            else:
                self._run_job_success(job.id, events)

        task = self._loop.create_task(run_firings(job, run_times))
        task.add_done_callback(done)
        self._tasks.add(task)


async def run_firings(job: Job, run_times: list[dt.datetime]) -> list[JobExecutionEvent]:
    """Call ``job.func(*job.args, fire_time=t)`` for each run time still within its grace."""
    events = []
    for run_time in run_times:
        late = dt.datetime.now(dt.UTC) - run_time
        if job.misfire_grace_time is not None and late > timedelta(seconds=job.misfire_grace_time):
            log.warning("skipping %s at %s: missed by %s (misfire grace)", job.id, run_time, late)
            events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, JOBSTORE, run_time))
            continue
        try:
            result = await job.func(*job.args, fire_time=run_time)
        except Exception as exc:
            log.exception("firing %s at %s failed", job.id, run_time)
            events.append(
                JobExecutionEvent(EVENT_JOB_ERROR, job.id, JOBSTORE, run_time, exception=exc)
            )
        else:
            events.append(
                JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, JOBSTORE, run_time, retval=result)
            )
    return events
