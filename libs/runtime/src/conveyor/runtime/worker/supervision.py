"""Supervising a handler: soft and hard time limits, and what its ending means as an outcome."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from conveyor.contracts.errors import ErrorCode, JobError
from conveyor.contracts.jobs import JobEnvelope
from conveyor.runtime.settings import WorkerSettings
from conveyor.runtime.telemetry import child_spans_recorded, tracer
from conveyor.runtime.worker.context import JobContext
from conveyor.runtime.worker.handlers import Handler, HandlerTable
from conveyor.runtime.worker.outcomes import (
    Cancelled,
    CancelReason,
    Failed,
    Outcome,
    Requeued,
    Succeeded,
)
from conveyor.runtime.worker.running import RunningJob, RunningJobs
from conveyor.runtime.worker.signals import RejectJob, RetryJob

log = logging.getLogger(__name__)


async def call_handler(
    handlers: HandlerTable, handler: Handler[Any], envelope: JobEnvelope, context: JobContext
) -> Any:
    """Run the handler on the envelope's request (the body of the job's own task)."""
    if not child_spans_recorded():
        return await handlers.call(handler, envelope.request, context)
    # A span of its own so the handler's phases nest under it, apart from the harness's
    # bookkeeping (store scripts, events) in the surrounding ``process`` span.
    with tracer.start_as_current_span(
        f"handle {envelope.job_type}", attributes={"conveyor.job_id": envelope.job_id}
    ):
        return await handlers.call(handler, envelope.request, context)


async def supervise(
    running: RunningJob, handler: Handler[Any], settings: WorkerSettings, jobs: RunningJobs
) -> Outcome:
    """Wait for the handler task within its time limits; the outcome its ending means.

    Past the soft limit the handler is cancelled; one that ignores cancellation past the hard
    limit is abandoned (and fails).
    """
    soft = handler.soft_time_limit or settings.soft_time_limit
    hard = max(handler.hard_time_limit or settings.hard_time_limit, soft)
    task = running.task
    try:
        done, _ = await asyncio.wait([task], timeout=soft)
        if not done and jobs.cancel(running.envelope.job_id, CancelReason.TIME_LIMIT):
            log.warning("soft time limit of %.1f s exceeded: cancelling the handler", soft)
        if not done:
            done, _ = await asyncio.wait([task], timeout=hard - soft)
    except asyncio.CancelledError:
        # Our own message task is being torn down: the handler must not outlive it.
        task.cancel()
        raise
    if not done:
        log.error("handler ignored cancellation past the hard time limit; abandoning it")
        message = f"the handler did not stop within the hard time limit of {hard:g} s"
        return Failed(JobError(code=ErrorCode.TIME_LIMIT_EXCEEDED, message=message), False)
    if running.cancel_reason == CancelReason.SHUTDOWN:
        return Requeued()
    if running.cancel_reason == CancelReason.CANCELLED:
        return Cancelled("cancelled by request")
    if running.cancel_reason == CancelReason.TIME_LIMIT:
        message = f"the soft time limit of {soft:g} s was exceeded"
        return Failed(JobError(code=ErrorCode.TIME_LIMIT_EXCEEDED, message=message), False)
    try:
        return Succeeded(task.result())
    except asyncio.CancelledError:
        return Cancelled("the handler cancelled itself")
    except RetryJob as signal:
        error = JobError(code=ErrorCode.HANDLER_ERROR, message=signal.reason)
        return Failed(error, retryable=True, delay=signal.delay)
    except RejectJob as signal:
        return Failed(JobError(code=signal.code, message=signal.reason), False)
    except Exception as exc:
        log.exception("handler failed")
        error = JobError(code=ErrorCode.HANDLER_ERROR, message=f"{type(exc).__name__}: {exc}")
        return Failed(error, retryable=handler.retry)
