"""The admin view in headless Chromium: readable tables, and every action against real services."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable

from playwright.async_api import Dialog, Locator, Page, expect
from redis.asyncio import Redis

from conveyor.contracts.codecs import encode
from conveyor.contracts.jobs import DiagnosticsRequest, JobEnvelope
from conveyor.contracts.records import JobState
from tests.browser.conftest import Stack, screenshot, sign_in
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE, submit_diagnostics, wait_for_state
from tests.support.services import start_worker

SCHEDULE = "system-health"
"""A schedule the maintenance worker seeds (an interval trigger of 900 s)."""


def new_admin() -> str:
    return f"admin-{uuid.uuid4().hex[:8]}"


async def open_admin(page: Page, stack: Stack) -> str:
    user = new_admin()
    await sign_in(page, stack.url, user, admin=True)
    await page.get_by_role("tab", name="Admin").click()
    return user


async def refresh_until(page: Page, condition: Callable[[], Awaitable[bool]]) -> None:
    """Refresh the admin view until ``condition`` holds (workers and queues change on their own)."""
    async with asyncio.timeout(30):
        while not await condition():
            await page.get_by_role("button", name="Refresh admin views").click()
            await asyncio.sleep(0.3)


# Text (of leaf elements with their own text) whose contrast with the background behind it
# is below WCAG AA's 4.5:1; disabled controls are exempt.
LOW_CONTRAST = """(root) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (e) => {
    for (; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c;
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const e of root.querySelectorAll("*")) {
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !e.offsetParent || e.closest("[disabled]")) continue;
    const [a, b] = [lum(rgb(getComputedStyle(e).color)), lum(background(e))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const text = e.textContent.trim().slice(0, 20);
    if (ratio < 4.5) low.push(`${e.tagName}.${e.className} "${text}" ${ratio.toFixed(2)}`);
  }
  return low;
}"""


async def low_contrast(page: Page) -> list[str]:
    found: list[str] = await page.locator("body").evaluate(LOW_CONTRAST)
    return found


async def sticking_out(page: Page) -> list[str]:
    """What makes the page scroll sideways (tables scroll inside their own box instead)."""
    found: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll("body *")].filter((e) => e.offsetParent
            && !e.closest(".table-scroll") && e.getBoundingClientRect().right > innerWidth + 1)
            .map((e) => `${e.tagName}#${e.id}.${e.className}`)"""
    )
    if not found and not await page.evaluate("document.documentElement.scrollWidth <= innerWidth"):
        found.append("the document")
    return found


async def headers(table: Locator) -> list[str]:
    return [text.strip() for text in await table.locator("thead th").all_text_contents()]


async def test_admin_tables_read_as_text_with_the_important_columns_first(
    page: Page, stack: Stack
) -> None:
    user = await open_admin(page, stack)
    pause = page.get_by_role("button", name=f"Pause schedule {SCHEDULE}")
    await refresh_until(page, lambda: pause.is_visible())  # seeded shortly after start
    workers = page.locator("#admin-workers table")
    queues = page.locator("#admin-queues table")
    schedules = page.locator("#admin-schedules table")
    # Each panel loads on its own: wait for every table read below, not only the schedules.
    for table in (workers, queues, schedules):
        await expect(table.locator("thead th").first).to_be_visible(timeout=10_000)
    assert (await headers(workers))[:6] == [
        "Instance", "State", "Running", "Processed", "Failed", "Last seen"
    ]  # fmt: skip
    assert (await headers(queues))[:5] == [
        "Queue",
        "Depth",
        "Consumers",
        "Depth change",
        "Arriving",
    ]
    assert await headers(schedules) == [
        "Schedule", "Trigger", "Next run", "Last run", "Last outcome", "Paused", "Actions"
    ]  # fmt: skip
    # Lists as words, never JSON; times as <time> with a relative hint.
    for panel in ("#admin-workers", "#admin-queues", "#admin-schedules"):
        for cell in await page.locator(f"{panel} td").all_inner_texts():
            assert not cell.strip().startswith(("[", "{")) and "[object" not in cell, cell
    worker = workers.locator("tbody tr").first
    listed = await stack.api(user, "GET", "/api/v1/admin/workers", admin=True)
    await expect(worker.locator("td").first).to_contain_text(listed["workers"][0]["instance"])
    await expect(worker.locator("td").nth(1)).to_have_text("alive")
    await expect(worker.locator("time .relative")).to_have_text(re.compile(r"ago|now"))
    export_queue = queues.locator("tbody tr", has_text=".jobs.export")
    await expect(export_queue.locator("td").last).to_have_text("export")
    row = schedules.locator(f"tr[data-key='{SCHEDULE}']")
    await expect(row.locator("td").nth(1)).to_contain_text("every 15 minutes")
    await expect(row.locator("td").nth(2).locator(".relative")).to_have_text(re.compile(r"in |now"))

    # Nothing is cut off on a desktop screen; on a phone the tables scroll inside their card.
    for table in (workers, queues, schedules):
        widths = await table.evaluate(
            "t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], (await headers(table), widths)
    await page.set_viewport_size({"width": 420, "height": 900})
    assert not await sticking_out(page)
    await page.get_by_role("tab", name="My jobs").click()
    assert not await sticking_out(page)
    await page.get_by_role("tab", name="Admin").click()
    await page.set_viewport_size({"width": 1280, "height": 900})

    await pause.click()
    resume = page.get_by_role("button", name=f"Resume schedule {SCHEDULE}")
    await expect(resume).to_be_visible(timeout=10_000)
    await expect(row.locator("td").nth(5)).to_have_text("paused")
    await resume.click()
    await expect(pause).to_be_visible(timeout=10_000)
    assert not await low_contrast(page)
    # The check itself sees grey on white (2.3:1).
    await page.evaluate("""() => { const p = document.createElement("p"); p.id = "probe";
        p.textContent = "probe"; p.style.color = "#aaa"; p.style.background = "#fff";
        document.querySelector("#view-admin").append(p); }""")
    assert [f for f in await low_contrast(page) if '"probe"' in f]
    await page.evaluate("document.querySelector('#probe').remove()")
    await page.get_by_role("button", name="Dark mode").click()
    await expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert not await low_contrast(page)
    await expect(page.get_by_role("button", name="Light mode")).to_be_visible()
    await screenshot(page, "admin-dark")


async def test_draining_a_worker_stops_it_and_shows_it_dead(
    page: Page, stack: Stack, redis: Redis
) -> None:
    extra = await start_worker(MAINTENANCE, stack.namespace, redis, **FAST_WORKER_ENV)
    try:
        await open_admin(page, stack)
        row = page.locator(f"#admin-workers tr[data-key='{extra.instance}']")
        await refresh_until(page, lambda: row.is_visible())
        await expect(row.locator("td").nth(1)).to_have_text("alive")
        await row.get_by_role("button", name=f"Drain {extra.instance}").click()
        assert await extra.wait(20) == 0  # it finished its work and exited cleanly

        async def gone_or_dead() -> bool:
            # No auto-waiting read: the row may vanish between two reads as the view refreshes.
            states = await row.locator("td").nth(1).all_inner_texts()
            return not states or states[0].strip() == "dead"

        await refresh_until(page, gone_or_dead)
        await expect(row.get_by_role("button", name="Drain")).to_have_count(0)
    finally:
        extra.kill()


async def dead_letter_row(page: Page, job_id: str) -> Locator:
    row = page.locator(f"#admin-dead-letters tr[data-key='{job_id}']")
    await refresh_until(page, lambda: row.is_visible())
    return row


async def test_a_replayed_dead_letter_leaves_the_list_and_its_job_runs_again(
    page: Page, stack: Stack
) -> None:
    user = await open_admin(page, stack)
    # A diagnostics job published to the export queue: the export worker has no handler for
    # it and dead-letters it; replayed, it is routed by its type and succeeds.
    envelope = JobEnvelope(request=DiagnosticsRequest(numbers=[2, 3]), owner=user)
    queue = stack.broker.topology.service_queue("export")
    await stack.broker.publish("", queue, encode(envelope), message_id=envelope.job_id)
    row = await dead_letter_row(page, envelope.job_id)
    await expect(row).to_contain_text("unknown job type")
    await row.get_by_role("button", name=f"Replay {envelope.job_id}").click()
    await expect(row).to_have_count(0, timeout=10_000)
    await expect(page.locator("#notice")).to_contain_text("done")
    record = await wait_for_state(stack.store, envelope.job_id, {JobState.SUCCEEDED})
    assert record.attempt == 1
    # The owner's job list shows it running again to success, from live events.
    await page.get_by_role("tab", name="My jobs").click()
    await expect(page.locator(f"#job-{envelope.job_id}")).to_have_attribute(
        "data-state", "succeeded", timeout=10_000
    )


async def test_purge_asks_first_then_empties_the_dead_letters(page: Page, stack: Stack) -> None:
    user = await open_admin(page, stack)
    failed = await submit_diagnostics(
        stack.lifecycle, owner=user, fail_attempts=1, max_attempts=1, numbers=[1]
    )
    row = await dead_letter_row(page, failed.job_id)
    purge = page.get_by_role("button", name="Delete every dead letter")
    questions: list[str] = []

    async def answer(dialog: Dialog, accept: bool) -> None:
        questions.append(dialog.message)
        await (dialog.accept() if accept else dialog.dismiss())

    page.once("dialog", lambda dialog: answer(dialog, False))
    await purge.click()
    await expect(row).to_be_visible()  # declined: nothing deleted
    kept = await stack.api(user, "GET", "/api/v1/admin/dead-letters", admin=True)
    assert failed.job_id in {letter["id"] for letter in kept["dead_letters"]}
    page.once("dialog", lambda dialog: answer(dialog, True))
    await purge.click()
    box = page.locator("#admin-dead-letters")
    await expect(box).to_contain_text("No dead letters.", timeout=10_000)
    await expect(box).to_contain_text("0 in the queue")
    assert len(questions) == 2 and "Delete every dead letter" in questions[0]
    listed = await stack.api(user, "GET", "/api/v1/admin/dead-letters", admin=True)
    assert listed["total"] == 0


async def test_reschedule_shows_the_refused_field_inline_and_saves_a_good_trigger(
    page: Page, stack: Stack
) -> None:
    user = await open_admin(page, stack)
    edit = page.get_by_role("button", name=f"Reschedule {SCHEDULE}")
    await refresh_until(page, lambda: edit.is_visible())
    await edit.click()
    await expect(page.get_by_label("Every (seconds)")).to_be_focused()
    await expect(page.get_by_label("Every (seconds)")).to_have_value("900")

    await page.get_by_label("Trigger", exact=True).select_option("cron")
    cron = page.get_by_label("Cron (minute hour day month weekday)")
    await cron.fill("every tuesday at noon")
    await page.get_by_role("button", name="Save trigger").click()
    error = page.locator("#reschedule-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("cron: not a 5-field crontab expression")
    await expect(cron).to_have_attribute("aria-invalid", "true")
    await expect(cron).to_be_focused()
    unchanged = await stack.api(user, "GET", f"/api/v1/admin/schedules/{SCHEDULE}", admin=True)
    assert unchanged["interval_seconds"] == 900 and unchanged["cron"] is None

    try:
        await cron.fill("30 2 * * *")
        await page.get_by_role("button", name="Save trigger").click()
        row = page.locator(f"#admin-schedules tr[data-key='{SCHEDULE}']")
        await expect(row.locator("td").nth(1)).to_contain_text("daily at 02:30")
        await expect(error).to_be_hidden()
        await expect(cron).not_to_have_attribute("aria-invalid", "true")
        saved = await stack.api(user, "GET", f"/api/v1/admin/schedules/{SCHEDULE}", admin=True)
        assert saved["cron"] == "30 2 * * *" and saved["interval_seconds"] is None
    finally:
        await stack.api(
            user,
            "PUT",
            f"/api/v1/admin/schedules/{SCHEDULE}/trigger",
            {"interval_seconds": 900},
            admin=True,
        )


async def test_triggers_read_in_words_and_unusual_ones_as_written(page: Page, stack: Stack) -> None:
    await page.goto(stack.url)
    described = await page.evaluate(
        """async (expressions) => {
            const { describeCron, describeInterval } = await import("/static/js/format.js");
            return [...expressions.map(describeCron), describeInterval(900),
                    describeInterval(86400), describeInterval(45)];
        }""",
        [
            "*/5 * * * *",
            "0 * * * *",
            "30 2 * * *",
            "0 9 * * 1",
            "15 6 1 * *",
            "0 0 1 1 *",
            "5 4 * * 1-5",
        ],
    )
    assert described == [
        "every 5 minutes",
        "hourly at minute 0",
        "daily at 02:30",
        "weekly on Monday at 09:00",
        "monthly on day 1 at 06:15",
        "0 0 1 1 *",
        "5 4 * * 1-5",
        "every 15 minutes",
        "every day",
        "every 45 seconds",
    ]


async def test_arrow_keys_move_between_the_tabs(page: Page, stack: Stack) -> None:
    await open_admin(page, stack)
    admin = page.get_by_role("tab", name="Admin")
    await admin.focus()
    await page.keyboard.press("ArrowRight")  # wraps around to the first tab
    jobs = page.get_by_role("tab", name="My jobs")
    await expect(jobs).to_be_focused()
    await expect(jobs).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#view-admin")).to_be_hidden()
    await page.keyboard.press("ArrowLeft")
    await expect(admin).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#view-admin")).to_be_visible()
