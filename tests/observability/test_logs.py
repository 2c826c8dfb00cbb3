"""Service logs are JSON lines off a terminal, carrying service, instance, job id and trace id."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.telemetry import setup_tracing, tracer
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE, submit_diagnostics, wait_for_state
from tests.support.services import running_worker


def _json_lines(output: str) -> list[dict[str, Any]]:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines, "the service logged nothing"
    return [json.loads(line) for line in lines]  # every line, or this raises


async def test_a_worker_off_a_terminal_logs_json_with_its_job_and_trace(
    module_namespace: str, redis: Redis, module_store: JobStore, module_lifecycle: JobLifecycle
) -> None:
    setup_tracing("tests", "tests")
    async with running_worker(
        MAINTENANCE, module_namespace, redis, CONVEYOR_LOG_FORMAT="auto", **FAST_WORKER_ENV
    ) as worker:
        with tracer.start_as_current_span("test submit") as span:
            envelope = await submit_diagnostics(module_lifecycle, fail_attempts=1)
        trace_id = format(span.get_span_context().trace_id, "032x")
        await wait_for_state(module_store, envelope.job_id, {JobState.SUCCEEDED})
    entries = _json_lines(worker.output())
    for entry in entries:
        assert {"ts", "level", "logger", "msg"} <= set(entry)
        assert entry["service"] == "maintenance"
        assert entry["instance"] == worker.instance
    retried = [e for e in entries if e["msg"].startswith("attempt 1 failed")]
    # Only this module's jobs run here: the retry of ours is the one retry logged.
    assert len(retried) == 1, entries
    assert retried[0]["job_id"] == envelope.job_id
    assert retried[0]["trace_id"] == trace_id
    assert retried[0]["level"] == "info"
    # Lines outside any job carry no job id.
    assert any("job_id" not in e for e in entries)
