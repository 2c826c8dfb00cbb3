"""The page's data-trust bits in headless Chromium: the daily statistics card on the results
tab (js/daily_stats.js) and an export's cut cells in the jobs table (js/jobs.js)."""

from __future__ import annotations

import datetime as dt
import uuid

from playwright.async_api import Page, expect
from redis.asyncio import Redis

from conveyor.contracts.events import JobQueued, JobStarted, JobSucceeded
from conveyor.contracts.jobs import ExportRequest, FileResult, JobEnvelope, Priority, utcnow
from conveyor.contracts.keys import Keys
from conveyor.contracts.records import JobState
from conveyor.contracts.statistics import DailyStatistics
from conveyor.runtime.statistics_store import StatisticsStore
from tests.browser.conftest import Stack, screenshot, sign_in

# Later than any day the stack's own maintenance worker may compute: it stays the newest.
DAY = dt.date(2030, 1, 2)


def new_user() -> str:
    return f"browser-{uuid.uuid4().hex[:8]}"


async def test_the_results_tab_shows_the_newest_days_statistics(
    page: Page, stack: Stack, redis: Redis
) -> None:
    stats = DailyStatistics(
        day=DAY,
        dataset_version="v-browser",
        computed_at=utcnow(),
        awards=123_456,
        total_contract_amount=9_876_543.25,
        average_contract_amount=80.0,
        median_contract_amount=42.5,
        contractors=321,
        procuring_entities=45,
        first_award_date=dt.date(2013, 1, 1),
        last_award_date=DAY,
        day_awards=17,
        day_contract_amount=-1_500.0,
    )
    await StatisticsStore(redis, Keys(stack.namespace)).save(stats, ttl_seconds=600)
    await sign_in(page, stack.url, new_user())
    await page.get_by_role("tab", name="Results").click()
    card = page.locator("#daily-stats")
    await expect(card.get_by_role("heading", name="Dataset statistics")).to_be_visible()
    await expect(card).to_contain_text("Awards up to 2030-01-02")
    figures = card.get_by_label("Statistics for 2030-01-02")
    await expect(figures.locator(".figure")).to_have_count(6)
    await expect(figures.locator(".figure").nth(0)).to_contain_text("123,456")
    await expect(figures.locator(".figure").nth(3)).to_contain_text("321")
    await expect(figures.locator(".figure").nth(4)).to_contain_text("17")
    await expect(figures.locator(".figure").nth(1)).to_contain_text("9,876,543")
    await screenshot(page, "daily-statistics")


async def test_an_export_with_cut_cells_says_so_in_the_jobs_table(page: Page, stack: Stack) -> None:
    user = new_user()
    # A finished export recorded as the worker records one (the dataset here has no text long
    # enough to be cut, so the record is written directly).
    envelope = JobEnvelope(
        request=ExportRequest(format="xlsx"), owner=user, priority=Priority.INTERACTIVE
    )
    base = {"job_id": envelope.job_id, "job_type": "export", "owner": user}
    started = await stack.store.start(
        envelope,
        JobQueued(**base),
        JobStarted(**base, worker="browser-test"),
        worker="browser-test",
        max_crashes=3,
        trace_id=None,
    )
    assert started.started is not None
    result = FileResult(
        filename="awards.xlsx",
        path=f"exports/{envelope.job_id}.xlsx",
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        size_bytes=1000,
        rows=10,
        expires_at=utcnow() + dt.timedelta(hours=1),
        truncated_cells=1_234,
    )
    done = await stack.store.transition(
        envelope.job_id,
        user,
        allowed=[JobState.RUNNING],
        to=JobState.SUCCEEDED,
        event=JobSucceeded(**base, result=result),
        fields={"result": result},
    )
    assert done.ok
    await sign_in(page, stack.url, user)
    row = page.locator(f"#job-{envelope.job_id}")
    await expect(row).to_have_attribute("data-state", "succeeded")
    await expect(row.locator(".truncated")).to_have_text(
        "1,234 cells cut at Excel's 32,767 characters"
    )
