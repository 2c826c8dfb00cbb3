"""The progress throttle behind ``JobContext`` when recording progress fails (Redis down)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from conveyor.contracts.jobs import Priority
from conveyor.contracts.records import Progress
from conveyor.runtime.worker import JobContext
from conveyor.runtime.worker.progress import ProgressThrottle


async def test_a_failed_progress_write_is_logged_and_leaves_no_task_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[Progress] = []

    async def unreachable(progress: Progress) -> None:
        attempts.append(progress)
        raise RedisConnectionError("Connection refused")

    context = JobContext(
        job_id="ctx-1",
        job_type="diagnostics",
        owner="tests",
        attempt=1,
        max_attempts=1,
        priority=Priority.INTERACTIVE,
        delivery=1,
        trace_id=None,
        throttle=ProgressThrottle(unreachable, interval=0.0, loop=asyncio.get_running_loop()),
    )
    with caplog.at_level(logging.WARNING, logger="conveyor.runtime.worker.progress"):
        context.report_progress(1, 10)
        flusher = context.throttle.flusher
        assert flusher is not None
        await asyncio.wait([flusher])
    assert attempts == [
        Progress(done=1, total=10, message=None, eta_seconds=attempts[0].eta_seconds)
    ]
    assert flusher.exception() is None  # nothing for "Task exception was never retrieved"
    assert "progress not recorded: Connection refused" in caplog.text
