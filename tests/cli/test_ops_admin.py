"""``conveyor workers|queues|job-types|dead-letters|stats|schedules`` against real services."""

from __future__ import annotations

import asyncio
import re

from redis.asyncio import Redis

from conveyor.contracts.topology import Topology
from tests.cli._ops import Result, Stack, api_get, cli
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE
from tests.support.services import start_worker


async def test_workers_and_queues_are_listed_for_an_operator(stack: Stack) -> None:
    env = stack.operator()
    workers, table, queues, queue_table = await asyncio.gather(
        cli("workers", "list", "--json", env=env),
        cli("workers", "list", env=env),
        cli("queues", "--json", env=env),
        cli("queues", env=env),
    )
    assert workers.code == 0, workers.err
    (worker,) = workers.json()["workers"]
    assert worker["instance"] == stack.worker.instance and worker["status"] == "alive"
    assert stack.worker.instance in table.out and "alive" in table.out
    names = {q["name"]: q for q in queues.json()["queues"]}
    service_queue = Topology(stack.namespace).service_queue("maintenance")
    assert names[service_queue]["consumers"] == 1
    assert service_queue in queue_table.out


async def test_an_operator_may_not_pause_and_a_user_may_not_list(stack: Stack) -> None:
    paused, listed = await asyncio.gather(
        cli("job-types", "pause", "diagnostics", env=stack.operator()),
        cli("workers", "list", env=stack.env("nobody")),
    )
    assert paused.code == 1 and "HTTP 403" in paused.err and "admin" in paused.err
    assert listed.code == 1 and "HTTP 403" in listed.err


async def test_pause_parks_jobs_and_resume_runs_them(stack: Stack) -> None:
    admin = stack.admin()
    paused = await cli("job-types", "pause", "diagnostics", env=admin)
    assert paused.code == 0, paused.err
    assert paused.out.strip() == "paused diagnostics (paused now: diagnostics)"
    await _until_logged(stack, "job type diagnostics paused")
    submitted = await cli("jobs", "submit", "diagnostics", "--set", "numbers=[2]", env=admin)
    job_id = submitted.out.strip()
    parked = Topology(stack.namespace).parked_queue("diagnostics")
    for _ in range(200):
        queues = await api_get(stack, "/api/v1/admin/queues")
        if any(q["name"] == parked and q["messages"] == 1 for q in queues["queues"]):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"the job was never parked: {queues}")
    table = await cli("queues", env=admin)
    assert parked in table.out and "paused: diagnostics" in table.out
    resumed = await cli("job-types", "resume", "diagnostics", env=admin)
    assert resumed.out.strip() == "resumed diagnostics (paused now: none)"
    watched = await cli("jobs", "watch", job_id, env=admin)
    assert watched.code == 0 and "succeeded" in watched.out


async def test_dead_letters_are_listed_replayed_and_purged(stack: Stack) -> None:
    admin = stack.admin()
    # The gateway gives one attempt: failing it on purpose dead-letters it.
    failed = await cli(
        "jobs", "submit", "diagnostics", "--set", "fail_attempts=1", "--watch", env=admin
    )
    assert failed.code == 1
    job_id = failed.out.splitlines()[0]
    # One after the other: a listing does not see what a concurrent one holds at that moment.
    listed = await cli("dead-letters", "list", "--json", env=stack.operator())
    table = await cli("dead-letters", "list", env=stack.operator())
    letter = next(d for d in listed.json()["dead_letters"] if d["id"] == job_id)
    assert "failing attempt 1 of 1 on purpose" in letter["reason"]
    assert job_id in table.out and "handler_error" in table.out

    replayed = await cli("dead-letters", "replay", job_id, "nope", env=admin)
    assert replayed.code == 1  # one of the two was missing
    assert replayed.out.splitlines() == [f"replayed {job_id}", "missing nope"]
    watched = await cli("jobs", "watch", job_id, env=admin)
    assert "failed" in watched.out  # ran again (and failed again on purpose)

    usage, purged = await asyncio.gather(
        cli("dead-letters", "replay", env=admin),
        _purge_when_dead_lettered(stack, job_id),
    )
    assert usage.code == 2 and "--all" in usage.err
    # At least this job (the scheduler's own jobs may have failed into the queue too).
    assert purged.code == 0 and re.fullmatch(r"purged [1-9][0-9]*", purged.out.strip())
    after = await api_get(stack, "/api/v1/admin/dead-letters")
    assert job_id not in {d["id"] for d in after["dead_letters"]}


async def _purge_when_dead_lettered(stack: Stack, job_id: str) -> Result:
    for _ in range(200):
        listed = await api_get(stack, "/api/v1/admin/dead-letters")
        if job_id in {d["id"] for d in listed["dead_letters"]}:
            return await cli("dead-letters", "purge", "--yes", env=stack.admin())
        await asyncio.sleep(0.05)
    raise AssertionError("the replayed job never came back to the dead-letter queue")


async def test_stats_count_this_stacks_jobs(stack: Stack) -> None:
    stats, table, bad = await asyncio.gather(
        cli("stats", "--window", "15m", "--json", env=stack.operator()),
        cli("stats", env=stack.operator()),
        cli("stats", "--window", "forever", env=stack.operator()),
    )
    assert stats.code == 0, stats.err
    body = stats.json()
    assert body["window_seconds"] == 900
    assert "diagnostics" in {t["job_type"] for t in body["by_type"]}  # the earlier tests' jobs
    assert "Jobs created in the last 1h" in table.out
    assert bad.code == 1 and "field window" in bad.err


async def test_drain_stops_the_named_worker(stack: Stack, redis: Redis) -> None:
    extra = await start_worker(MAINTENANCE, stack.namespace, redis, **FAST_WORKER_ENV)
    try:
        drained = await cli("workers", "drain", extra.instance, env=stack.admin())
        assert drained.code == 0, drained.err
        assert drained.out.strip() == f"draining {extra.instance}"
        assert await extra.wait(20) == 0
        unknown = await cli("workers", "drain", "ghost", env=stack.admin())
        assert unknown.code == 1 and "HTTP 404" in unknown.err
    finally:
        extra.kill()


async def test_schedules_are_listed_paused_resumed_and_run(stack: Stack) -> None:
    operator, admin = stack.operator(), stack.admin()
    listed = await cli("schedules", "list", "--json", env=operator)
    if listed.code != 0:  # a gateway without the maintenance issue's API
        assert listed.code == 1 and "no schedules API" in listed.err, listed.err
        return
    # The maintenance worker seeds its default schedules as it starts.
    for _ in range(150):
        body = await api_get(stack, "/api/v1/admin/schedules")
        if "system-health" in {s["name"] for s in body["schedules"]}:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"no default schedules listed: {body}")
    listed = await cli("schedules", "list", "--json", env=operator)
    assert "system-health" in {s["name"] for s in listed.json()["schedules"]}
    paused = await cli("schedules", "pause", "system-health", env=admin)
    assert paused.code == 0, paused.err
    shown = await cli("schedules", "show", "system-health", env=operator)
    assert shown.json()["paused"] is True
    table = await cli("schedules", "list", env=operator)
    assert "system-health" in table.out and "paused" in table.out
    resumed, ran, usage = await asyncio.gather(
        cli("schedules", "resume", "system-health", env=admin),
        cli("schedules", "run", "system-health", env=admin),
        cli("schedules", "trigger", "system-health", env=admin),
    )
    assert resumed.code == 0, resumed.err
    assert ran.code == 0 and len(ran.out.strip()) >= 16  # the queued job's id
    assert usage.code == 2 and "--cron" in usage.err
    refused = await cli("schedules", "pause", "system-health", env=operator)
    assert refused.code == 1 and "HTTP 403" in refused.err


async def _until_logged(stack: Stack, text: str) -> None:
    for _ in range(200):
        if text in stack.worker.output():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the worker never logged {text!r}")
