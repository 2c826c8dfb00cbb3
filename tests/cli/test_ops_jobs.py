"""``conveyor jobs``: submit, watch, get, list, cancel and tail events through the gateway."""

from __future__ import annotations

import asyncio
import json
import uuid

from tests.cli._ops import Stack, api_get, cli


async def test_submit_with_fields_and_watch_shows_progress_until_it_succeeds(stack: Stack) -> None:
    result = await cli(
        "jobs", "submit", "diagnostics",
        "--set", "numbers=[1,2,3]", "--set", "sleep_seconds=0.6", "--set", "steps=3",
        "--watch",
        env=stack.env(),
    )  # fmt: skip
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    job_id = lines[0]
    assert f"{job_id} diagnostics progressed 3/3 step 3 of 3" in lines
    assert lines[-1].startswith(f"{job_id} diagnostics succeeded ")
    assert lines[-1].endswith(" sum 6")  # a summary, not the result's JSON


async def test_submit_with_a_json_body_then_get_and_list_it(stack: Stack) -> None:
    env = stack.env("lister")
    submitted = await cli(
        "jobs", "submit", "diagnostics", "--body", '{"numbers": [5, 5]}', "--json", env=env
    )
    assert submitted.code == 0, submitted.err
    job_id = submitted.json()["job_id"]
    watched = await cli("jobs", "watch", job_id, env=env)
    assert watched.code == 0, watched.err
    got, listed, table = await asyncio.gather(
        cli("jobs", "get", job_id, env=env),
        cli("jobs", "list", "--json", env=env),
        cli("jobs", "list", "--state", "succeeded", env=env),
    )
    assert got.json()["state"] == "succeeded" and got.json()["result"]["sum"] == 10.0
    assert [j["job_id"] for j in listed.json()["jobs"]] == [job_id]
    assert job_id in table.out and "succeeded" in table.out


async def test_a_bad_field_is_refused_naming_it(stack: Stack) -> None:
    result, usage = await asyncio.gather(
        cli("jobs", "submit", "diagnostics", "--set", "numbers=seven", env=stack.env()),
        cli("jobs", "submit", "diagnostics", "--set", "numbers", env=stack.env()),
    )
    assert result.code == 1
    assert "HTTP 400" in result.err and "$.numbers" in result.err
    assert usage.code == 2 and "key=value" in usage.err


async def test_cancel_stops_a_running_job_and_watch_reports_it(stack: Stack) -> None:
    env = stack.env("canceller")
    submitted = await cli(
        "jobs", "submit", "diagnostics", "--set", "sleep_seconds=30", "--set", "steps=30", env=env
    )
    job_id = submitted.out.strip()
    watcher = asyncio.create_task(cli("jobs", "watch", job_id, env=env))
    cancelled = await cli("jobs", "cancel", job_id, env=env)
    assert cancelled.code == 0, cancelled.err
    assert cancelled.out.strip() == f"{job_id} cancelled"
    watched = await watcher
    assert watched.code == 1
    assert watched.out.splitlines()[-1].startswith(f"{job_id} diagnostics cancelled")
    again = await cli("jobs", "cancel", job_id, env=env)
    assert again.code == 1 and "HTTP 409" in again.err


async def test_events_replays_history_then_stops_after_count(stack: Stack) -> None:
    env = stack.env("tailer")
    submitted = await cli("jobs", "submit", "diagnostics", "--watch", env=env)
    assert submitted.code == 0, submitted.err
    job_id = submitted.out.splitlines()[0]
    events, one = await asyncio.gather(
        cli("jobs", "events", "--from-start", "--count", "3", "--json", env=env),
        cli("jobs", "events", "--job", job_id, "--count", "1", env=env),
    )
    assert events.code == 0, events.err
    kinds = [json.loads(line)["event"] for line in events.out.splitlines()]
    assert kinds == ["job.queued", "job.started", "job.succeeded"]
    assert f"{job_id} diagnostics queued attempt 1" in one.out


async def test_without_a_token_or_gateway_the_error_says_what_to_do(stack: Stack) -> None:
    env = stack.env()
    del env["CONVEYOR_TOKEN"]
    missing, down, refused = await asyncio.gather(
        cli("jobs", "list", env=env),
        cli("jobs", "list", "--gateway", "http://127.0.0.1:1", env=stack.env()),
        cli("jobs", "list", "--token", "not-a-jwt", env=stack.env()),
    )
    assert missing.code == 2 and "CONVEYOR_TOKEN" in missing.err
    assert down.code == 1 and "cannot reach the gateway" in down.err
    assert refused.code == 1 and "HTTP 401" in refused.err


async def _wait_for(stack: Stack, job_id: str, state: str) -> None:
    async with asyncio.timeout(20):
        while (await api_get(stack, f"/api/v1/jobs/{job_id}"))["state"] != state:
            await asyncio.sleep(0.05)


async def test_list_takes_several_states_repeated_or_with_commas(stack: Stack) -> None:
    env = stack.env(f"states-{uuid.uuid4().hex[:6]}")
    done = (await cli("jobs", "submit", "diagnostics", "--watch", env=env)).out.split()[0]
    slow = await cli("jobs", "submit", "diagnostics", "--set", "sleep_seconds=30", env=env)
    running = slow.out.strip()
    await _wait_for(stack, running, "running")
    try:
        repeated, commas, one = await asyncio.gather(
            cli("jobs", "list", "--state", "running", "--state", "succeeded", "--json", env=env),
            cli("jobs", "list", "--state", "queued,running", "--json", env=env),
            cli("jobs", "list", "--state", "succeeded", "--json", env=env),
        )
        assert [j["job_id"] for j in repeated.json()["jobs"]] == [running, done]
        assert [j["job_id"] for j in commas.json()["jobs"]] == [running]
        assert [j["job_id"] for j in one.json()["jobs"]] == [done]
    finally:
        await cli("jobs", "cancel", running, env=env)


async def test_retry_submits_a_cancelled_job_again_and_refuses_a_finished_one(
    stack: Stack,
) -> None:
    env = stack.env(f"retrier-{uuid.uuid4().hex[:6]}")
    body = '{"numbers": [4, 5], "sleep_seconds": 30, "steps": 3}'
    job_id = (await cli("jobs", "submit", "diagnostics", "--body", body, env=env)).out.strip()
    assert (await cli("jobs", "cancel", job_id, env=env)).code == 0
    retried = await cli("jobs", "retry", job_id, "--json", env=env)
    assert retried.code == 0, retried.err
    again = retried.json()
    try:
        original = await api_get(stack, f"/api/v1/jobs/{job_id}")
        assert again["job_id"] != job_id
        assert again["request"] == original["request"]
        assert again["state"] in ("queued", "running") and again["owner"] == original["owner"]
        refused = await cli("jobs", "retry", again["job_id"], env=env)
        assert refused.code == 1
        assert "only failed or cancelled jobs retry" in refused.err
    finally:
        await cli("jobs", "cancel", again["job_id"], env=env)


async def test_retry_of_a_failed_job_runs_the_same_request_and_watches_it(stack: Stack) -> None:
    env = stack.env(f"failer-{uuid.uuid4().hex[:6]}")
    failed = await cli(
        "jobs", "submit", "diagnostics", "--set", "fail_attempts=1", "--watch", env=env
    )
    assert failed.code == 1  # one attempt (CONVEYOR_MAX_ATTEMPTS=1 on this gateway)
    job_id = failed.out.splitlines()[0]
    retried = await cli("jobs", "retry", job_id, "--watch", env=env)
    new_id = retried.out.splitlines()[0]
    assert new_id != job_id
    assert retried.out.splitlines()[-1].startswith(f"{new_id} diagnostics failed")
    record = await api_get(stack, f"/api/v1/jobs/{new_id}")
    assert record["request"]["fail_attempts"] == 1


async def test_result_prints_the_sum_or_json_and_refuses_an_unfinished_job(stack: Stack) -> None:
    env = stack.env(f"results-{uuid.uuid4().hex[:6]}")
    submitted = await cli(
        "jobs", "submit", "diagnostics", "--set", "numbers=[2,3.5]", "--watch", env=env
    )
    job_id = submitted.out.splitlines()[0]
    pretty, raw = await asyncio.gather(
        cli("jobs", "result", job_id, env=env), cli("jobs", "result", job_id, "--json", env=env)
    )
    assert pretty.code == 0, pretty.err
    assert pretty.out.strip() == "sum 5.5 (attempt 1)"
    assert raw.json() == {"type": "diagnostics", "sum": 5.5, "attempt": 1}
    slow = await cli("jobs", "submit", "diagnostics", "--set", "sleep_seconds=30", env=env)
    try:
        waiting = await cli("jobs", "result", slow.out.strip(), env=env)
        assert waiting.code == 1
        assert "no result" in waiting.err
        assert "is queued" in waiting.err or "is running" in waiting.err
    finally:
        await cli("jobs", "cancel", slow.out.strip(), env=env)
