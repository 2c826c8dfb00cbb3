"""The diagnostics job (the old ``sample_add``): adds numbers, optionally slowly or badly."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal

from conveyor.contracts.jobs import DiagnosticsRequest, DiagnosticsResult
from conveyor.runtime.worker import JobContext, RetryJob

log = logging.getLogger(__name__)


async def run_diagnostics(request: DiagnosticsRequest, *, job: JobContext) -> DiagnosticsResult:
    """Sum ``request.numbers`` after sleeping in steps; fail or crash on purpose if asked."""
    if job.delivery <= request.crash_deliveries:
        log.warning("crashing the worker on purpose (delivery %d)", job.delivery)
        os.kill(os.getpid(), signal.SIGKILL)
    if request.sleep_seconds > 0:
        step = request.sleep_seconds / request.steps
        for done in range(1, request.steps + 1):
            await asyncio.sleep(step)
            job.report_progress(done, request.steps, f"step {done} of {request.steps}")
    if job.attempt <= request.fail_attempts:
        raise RetryJob(f"failing attempt {job.attempt} of {request.fail_attempts} on purpose")
    total = math.fsum(request.numbers)
    # One line per run that produced a result: the chaos tests count a job's runs by it.
    log.info("diagnostics computed sum %r (attempt %d)", total, job.attempt)
    return DiagnosticsResult(sum=total, attempt=job.attempt)
