"""The task-manager page in headless Chromium against a real gateway and real workers."""

from __future__ import annotations

import csv
import math
import uuid
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from conveyor.contracts.records import JobState
from tests.browser.conftest import Stack, screenshot, sign_in
from tests.support.jobs import submit_diagnostics, wait_for_state

LIVE = "#connection[data-state='live']"


def new_user() -> str:
    return f"browser-{uuid.uuid4().hex[:8]}"


async def page_events(page: Page, job_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = await page.evaluate(
        "(id) => window.conveyor.events.filter((e) => e.job_id === id)", job_id
    )
    return events


async def test_an_export_from_the_page_reaches_100_percent_and_downloads(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    user = new_user()
    await sign_in(page, stack.url, user)
    await page.get_by_label("Job type").select_option("export")
    await page.get_by_label("Format").select_option("csv")
    await page.get_by_label("Amount at least (PHP)").fill("1000")
    await page.get_by_role("button", name="Submit", exact=True).click()
    await expect(page.locator("#submit-status")).to_contain_text("Submitted export job")
    row = page.locator("#jobs-body tr").first
    job_id = await row.get_attribute("data-job-id")
    assert job_id
    await expect(row).to_have_attribute("data-state", "succeeded", timeout=60_000)
    await expect(row.locator("progress")).to_have_attribute("value", "100")
    await expect(row.locator(".percent")).to_have_text("100 %")
    record = await stack.store.get(job_id)
    assert record is not None and record.result is not None
    rows = record.result.rows  # type: ignore[union-attr]
    await expect(row.locator("td.rows")).to_have_text(f"{rows:,} / {rows:,}")
    # The bar moved with live progress events before it reached the end.
    progressed = [e for e in await page_events(page, job_id) if e["event"] == "job.progressed"]
    assert len(progressed) >= 2, progressed
    await screenshot(page, "export-finished")

    async with page.expect_download() as download_info:
        await row.get_by_role("button", name="Download").click()
    download = await download_info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.suffix == ".csv"
    with saved.open(newline="", encoding="utf-8") as f:
        data_rows = list(csv.reader(f))[1:]
    assert len(data_rows) == rows > 0


async def test_a_running_job_is_cancelled_from_the_page_and_retried(
    page: Page, stack: Stack
) -> None:
    user = new_user()
    await sign_in(page, stack.url, user)
    job = await stack.api(
        user, "POST", "/api/v1/jobs/diagnostics", {"numbers": [1], "sleep_seconds": 60, "steps": 60}
    )
    row = page.locator(f"#job-{job['job_id']}")
    await expect(row).to_have_attribute("data-state", "running", timeout=20_000)
    await row.get_by_role("button", name="Cancel").click()
    await expect(row).to_have_attribute("data-state", "cancelled", timeout=10_000)
    record = await wait_for_state(stack.store, job["job_id"], {JobState.CANCELLED}, timeout=10)
    assert record.state == JobState.CANCELLED
    await screenshot(page, "job-cancelled")

    # Retry = the same request again, as a new job.
    await row.get_by_role("button", name="Submit").click()
    retried = page.locator("#jobs-body tr").first
    await expect(retried).not_to_have_attribute("data-job-id", job["job_id"])
    retried_id = await retried.get_attribute("data-job-id")
    assert retried_id
    again = await stack.store.get(retried_id)
    assert again is not None and again.request == record.request
    await expect(retried).to_have_attribute("data-state", "running", timeout=20_000)
    await retried.get_by_role("button", name="Cancel").click()
    await wait_for_state(stack.store, retried_id, {JobState.CANCELLED}, timeout=10)


async def test_the_page_resumes_after_the_gateway_drops_its_websocket_without_losing_events(
    page: Page, stack: Stack
) -> None:
    user = new_user()
    await sign_in(page, stack.url, user)
    job = await stack.api(
        user, "POST", "/api/v1/jobs/diagnostics", {"numbers": [2], "sleep_seconds": 8, "steps": 80}
    )
    job_id = job["job_id"]
    row = page.locator(f"#job-{job_id}")
    await expect(row).to_have_attribute("data-state", "running", timeout=20_000)

    await stack.stop_gateway()  # closes the page's WebSocket from the server side (1001)
    await expect(page.locator("#connection")).not_to_have_attribute("data-state", "live")
    before = await stack.store.get(job_id)
    assert before is not None
    # The job keeps reporting while no gateway is up: events the page must catch up on.
    await wait_for_state(stack.store, job_id, lambda r: r.last_seq > before.last_seq, timeout=10)
    await stack.start_gateway()

    await expect(page.locator(LIVE)).to_be_visible(timeout=20_000)
    await expect(row).to_have_attribute("data-state", "succeeded", timeout=30_000)
    final = await stack.store.get(job_id)
    assert final is not None and final.state == JobState.SUCCEEDED
    seqs = [e["seq"] for e in await page_events(page, job_id)]
    # Every event of the job exactly once, in order, across the reconnect.
    assert seqs == list(range(1, final.last_seq + 1)), seqs
    assert await page.evaluate("window.conveyor.connections") >= 2
    await screenshot(page, "resumed-after-reconnect")


async def test_history_pages_back_with_older_jobs_and_filters_by_state(
    page: Page, stack: Stack
) -> None:
    user = new_user()
    for n in range(23):  # more than one page of 20
        await stack.api(user, "POST", "/api/v1/jobs/diagnostics", {"numbers": [n]})
    await sign_in(page, stack.url, user)
    rows = page.locator("#jobs-body tr")
    await expect(rows).to_have_count(20)
    await page.get_by_role("button", name="Older jobs").click()
    await expect(rows).to_have_count(23)
    await expect(page.get_by_role("button", name="Older jobs")).to_be_hidden()
    await expect(page.locator("#jobs-body tr[data-state='succeeded']")).to_have_count(
        23, timeout=20_000
    )
    await page.get_by_label("Show state").select_option("failed")
    await expect(page.locator("#jobs-empty")).to_be_visible()
    await page.get_by_label("Show state").select_option("succeeded")
    await expect(rows).to_have_count(20)


async def test_aggregates_show_as_tables_and_a_chart_and_search_results_page(
    page: Page, stack: Stack
) -> None:
    user = new_user()
    await sign_in(page, stack.url, user)
    await page.get_by_label("Job type").select_option("aggregates")
    await page.get_by_label("Top N").fill("5")
    await page.get_by_role("button", name="Submit", exact=True).click()
    row = page.locator("#jobs-body tr").first
    await expect(row).to_have_attribute("data-state", "succeeded", timeout=60_000)
    await row.get_by_role("button", name="View").click()
    result = page.locator("#result-body")
    await expect(result.locator("table").first).to_be_visible(timeout=10_000)
    job_id = await row.get_attribute("data-job-id")
    payload = await stack.api(user, "GET", f"/api/v1/jobs/{job_id}/result")
    summary = payload["summary"]
    # Headline figures, money as pesos, each shown once (not as a "summary" table).
    figures = result.locator(".figures")
    await expect(figures.locator("dd").first).to_have_text(f"{summary['count']:,}")
    await expect(figures).to_contain_text(f"₱{summary['total']:,.2f}")
    await expect(figures).to_contain_text("Median award")
    assert "summary" not in (await result.inner_text()).lower()
    # Charts: named images with a description, axis and value labels.
    by_year = result.get_by_role("img", name="Total value by year")
    await expect(by_year).to_be_visible()
    assert "Highest:" in (await by_year.locator("desc").text_content() or "")
    await expect(by_year.locator("text.axis")).to_have_text(["Year", "Total value (PHP)"])
    years = [str(y["year"]) for y in payload["by_year"]]
    ticks = await by_year.locator("text.tick").all_text_contents()
    assert ticks[:3] == ["₱0", ticks[1], ticks[2]] and ticks[2].endswith("B"), ticks
    assert ticks[3:] == years[:: math.ceil(len(years) / 13)], ticks
    top = result.get_by_role("img", name="Top contractors")
    await expect(top.locator("text.value")).to_have_count(5)
    await expect(result.get_by_role("region", name="Top contractors table")).to_contain_text(
        f"₱{payload['top_contractors'][0]['total']:,.2f}"
    )
    await screenshot(page, "aggregates-result")

    await page.get_by_role("tab", name="My jobs").click()
    await page.get_by_label("Job type").select_option("search")
    await page.get_by_label("Rows per page").fill("5")
    await page.get_by_role("button", name="Submit", exact=True).click()
    search = page.locator("#jobs-body tr[data-state]").first
    await expect(search.locator("td").nth(1)).to_have_text("search")
    await expect(search).to_have_attribute("data-state", "succeeded", timeout=60_000)
    await search.get_by_role("button", name="View").click()
    await expect(result.locator("tbody tr")).to_have_count(5, timeout=10_000)
    await expect(result).to_contain_text("Page 1 of")
    await result.get_by_role("button", name="Next page").click()
    await expect(page.locator("#notice")).to_contain_text("Page 2 requested")
    await screenshot(page, "search-result")


async def test_an_export_matching_nothing_says_so_and_offers_no_download(
    page: Page, stack: Stack
) -> None:
    user = new_user()
    await sign_in(page, stack.url, user)
    await page.get_by_label("Job type").select_option("export")
    await page.get_by_label("Format").select_option("csv")
    await page.get_by_label("Amount at least (PHP)").fill("999999999999999")
    await page.get_by_role("button", name="Submit", exact=True).click()
    row = page.locator("#jobs-body tr").first
    await expect(row).to_have_attribute("data-state", "succeeded", timeout=60_000)
    job_id = await row.get_attribute("data-job-id")
    assert job_id
    record = await stack.store.get(job_id)
    assert record is not None and record.result is not None
    assert record.result.rows == 0  # type: ignore[union-attr]
    await expect(row.locator("td.actions")).to_have_text("No awards match these filters")
    await expect(row.get_by_role("button", name="Download")).to_have_count(0)
    # The same from the REST record after a reload, not only from the live event.
    await page.reload()
    await expect(page.locator(f"#job-{job_id} td.actions")).to_have_text(
        "No awards match these filters", timeout=15_000
    )


async def test_a_job_that_succeeded_after_retries_shows_the_earlier_error_muted_on_demand(
    page: Page, stack: Stack
) -> None:
    user = new_user()
    await sign_in(page, stack.url, user)
    job = await submit_diagnostics(
        stack.lifecycle, owner=user, fail_attempts=2, max_attempts=3, numbers=[4]
    )
    row = page.locator(f"#job-{job.job_id}")
    await expect(row).to_have_attribute("data-state", "succeeded", timeout=30_000)
    for _ in range(2):  # from live events, then from the REST record after a reload
        attempts = row.locator("details.attempts")
        await expect(attempts.locator("summary")).to_have_text("succeeded on attempt 3")
        await expect(row.locator(".error-text")).to_have_count(0)
        earlier = attempts.get_by_text("An earlier attempt failed: failing attempt 2")
        await expect(earlier).to_be_hidden()
        await attempts.locator("summary").click()
        await expect(earlier).to_be_visible()
        colour = await attempts.evaluate("e => getComputedStyle(e).color")
        bad = await page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--bad')"
        )
        assert colour != bad.strip()
        await page.reload()
        await expect(page.locator(LIVE)).to_be_visible(timeout=15_000)
    # A job that failed for good still shows its error in red.
    failed = await submit_diagnostics(
        stack.lifecycle, owner=user, fail_attempts=1, max_attempts=1, numbers=[5]
    )
    failed_row = page.locator(f"#job-{failed.job_id}")
    await expect(failed_row).to_have_attribute("data-state", "failed", timeout=30_000)
    error = failed_row.locator(".error-text")
    await expect(error).to_have_text("failing attempt 1 of 1 on purpose")


async def test_the_copy_button_puts_the_full_job_id_on_the_clipboard(
    page: Page, stack: Stack
) -> None:
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    user = new_user()
    await sign_in(page, stack.url, user)
    job = await stack.api(user, "POST", "/api/v1/jobs/diagnostics", {"numbers": [6]})
    row = page.locator(f"#job-{job['job_id']}")
    await expect(row.locator("code")).to_have_text(job["job_id"][:8])
    await row.get_by_role("button", name=f"Copy id {job['job_id']}").click()
    await expect(page.locator("#notice")).to_have_text(f"Copied {job['job_id']}")
    assert await page.evaluate("navigator.clipboard.readText()") == job["job_id"]


async def test_search_results_show_every_row_of_the_page_unfolded(page: Page, stack: Stack) -> None:
    user = new_user()
    await sign_in(page, stack.url, user)
    await page.get_by_label("Job type").select_option("search")
    await page.get_by_label("Rows per page").fill("40")  # more than a folded table's 24
    await page.get_by_role("button", name="Submit", exact=True).click()
    row = page.locator("#jobs-body tr").first
    await expect(row).to_have_attribute("data-state", "succeeded", timeout=60_000)
    await row.get_by_role("button", name="View").click()
    result = page.locator("#result-body")
    await expect(result.locator("tbody tr")).to_have_count(40, timeout=10_000)
    await expect(result.locator("details")).to_have_count(0)
    await expect(result.locator("tbody tr").last).to_be_visible()


async def test_a_search_matching_nothing_says_so(page: Page, stack: Stack) -> None:
    user = new_user()
    await sign_in(page, stack.url, user)
    await page.get_by_label("Job type").select_option("search")
    await page.get_by_label("Search words").fill("qqqnosuchwordqqq")
    await page.get_by_role("button", name="Submit", exact=True).click()
    row = page.locator("#jobs-body tr").first
    await expect(row).to_have_attribute("data-state", "succeeded", timeout=60_000)
    await row.get_by_role("button", name="View").click()
    result = page.locator("#result-body")
    await expect(result.locator(".no-match")).to_have_text(
        "No awards match this search and these filters.", timeout=10_000
    )
    await expect(result.locator("table")).to_have_count(0)
