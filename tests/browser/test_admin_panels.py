"""The admin view's job statistics and pause/resume of job types (admin_panels.js), in
headless Chromium against real services."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import Page, expect

from conveyor.contracts.records import JobState
from tests.browser.conftest import Stack, sign_in
from tests.support.jobs import wait_for_state

STATES = ["queued", "running", "retrying", "succeeded", "failed", "cancelled"]


async def open_admin(page: Page, stack: Stack) -> str:
    user = f"admin-{uuid.uuid4().hex[:8]}"
    await sign_in(page, stack.url, user, admin=True)
    await page.get_by_role("tab", name="Admin").click()
    return user


async def refresh_until(page: Page, condition: Callable[[], Awaitable[bool]]) -> None:
    async with asyncio.timeout(30):
        while not await condition():
            await page.get_by_role("button", name="Refresh admin views").click()
            await asyncio.sleep(0.3)


async def test_job_statistics_show_the_api_counts_by_type_and_state_for_the_chosen_window(
    page: Page, stack: Stack
) -> None:
    user = await open_admin(page, stack)
    job = await stack.api(user, "POST", "/api/v1/jobs/diagnostics", {"numbers": [7]})
    await wait_for_state(stack.store, job["job_id"], {JobState.SUCCEEDED})
    stats = page.locator("#admin-stats")
    row = stats.locator("tr[data-key='diagnostics']")
    for window in ("1h", "15m", "7d"):
        # Choosing a window asks the API for that window (all of these jobs are recent, so
        # the counts alone could not tell the windows apart).
        async with page.expect_request(f"**/api/v1/admin/stats/jobs?window={window}"):
            await page.get_by_label("Jobs created in the last").select_option(window)
        expected: dict[str, Any] = {}

        async def matches_the_api(window: str = window) -> bool:
            nonlocal expected
            expected = await stack.api(
                user, "GET", f"/api/v1/admin/stats/jobs?window={window}", admin=True
            )
            by_type = {t["job_type"]: t for t in expected["by_type"]}
            diagnostics = by_type["diagnostics"]
            shown = await row.locator("td").all_inner_texts() if await row.count() else []
            wanted = [
                "diagnostics",
                f"{diagnostics['total']:,}",
                *(f"{diagnostics['by_state'].get(state, 0):,}" for state in STATES),
            ]
            return [cell.strip() for cell in shown] == wanted

        await refresh_until(page, matches_the_api)
        total = stats.locator("tr[data-key='All types'] td").nth(1)
        await expect(total).to_have_text(f"{expected['total']:,}")
        # The window's twelve intervals as columns, each named with its count.
        chart = stats.get_by_role("img", name="Jobs created over the window")
        await expect(chart.locator("rect")).to_have_count(len(expected["buckets"]))
        per_bucket = [
            sum(n for states in b["counts"].values() for n in states.values())
            for b in expected["buckets"]
        ]
        titles = await chart.locator("rect title").all_text_contents()
        assert [int(t.rsplit(": ", 1)[1].replace(",", "")) for t in titles] == per_bucket


async def test_pausing_a_job_type_parks_its_jobs_until_it_is_resumed(
    page: Page, stack: Stack
) -> None:
    user = await open_admin(page, stack)
    row = page.locator("#admin-job-types tr[data-key='diagnostics']")
    await expect(row.locator("td").nth(1)).to_have_text("consuming", timeout=10_000)
    try:
        await row.get_by_role("button", name="Pause diagnostics jobs").click()
        await expect(row.locator("td").nth(1)).to_have_text("paused", timeout=10_000)
        queues = await stack.api(user, "GET", "/api/v1/admin/queues", admin=True)
        assert "diagnostics" in queues["paused_job_types"]

        job = await stack.api(user, "POST", "/api/v1/jobs/diagnostics", {"numbers": [8]})
        parked = row.locator("td").nth(2)

        async def parked_shown() -> bool:
            return (await parked.inner_text()).strip() == "1"

        await refresh_until(page, parked_shown)
        record = await stack.store.get(job["job_id"])
        assert record is not None and record.state == JobState.QUEUED

        await row.get_by_role("button", name="Resume diagnostics jobs").click()
        await expect(row.locator("td").nth(1)).to_have_text("consuming", timeout=10_000)
        await wait_for_state(stack.store, job["job_id"], {JobState.SUCCEEDED})
        queues = await stack.api(user, "GET", "/api/v1/admin/queues", admin=True)
        assert "diagnostics" not in queues["paused_job_types"]
    finally:
        await stack.api(user, "POST", "/api/v1/admin/job-types/diagnostics/resume", admin=True)
