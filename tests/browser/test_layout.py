"""Every button of the page can be seen and clicked at a desktop (1280 px) and a phone (420 px)
width: inside the viewport, not clipped by a scrolling box, and the topmost element at its centre.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Page, expect

from conveyor.contracts.records import JobState
from tests.browser.conftest import Stack, screenshot, sign_in
from tests.browser.test_admin_view import low_contrast
from tests.support.jobs import submit_diagnostics, wait_for_state

WIDTHS = [1280, 420]

# For each visible button: scroll the window (only vertically: scrolling a table's box
# sideways would hide the very clipping this looks for) until the button is in view, then
# check its box against the viewport and every ancestor that clips, and that a click at its
# centre lands on it.
UNREACHABLE_BUTTONS = """(root) => {
  const problems = [];
  const name = (b) => `${b.getAttribute("aria-label") || b.textContent.trim()}`;
  for (const button of root.querySelectorAll("button")) {
    const shown = button.getClientRects().length;
    if (!shown || getComputedStyle(button).visibility === "hidden") continue;
    const before = button.getBoundingClientRect();
    window.scrollTo({ top: scrollY + before.top - innerHeight / 2, left: 0, behavior: "instant" });
    const r = button.getBoundingClientRect();
    if (r.left < 0 || r.right > innerWidth + 0.5 || r.top < 0 || r.bottom > innerHeight + 0.5) {
      problems.push(`${name(button)} outside the viewport: ${JSON.stringify(r)}`);
      continue;
    }
    let clipped = false;
    for (let box = button.parentElement; box && box !== document.body; box = box.parentElement) {
      const style = getComputedStyle(box);
      if (style.overflowX === "visible" && style.overflowY === "visible") continue;
      const b = box.getBoundingClientRect();
      const right = b.left + box.clientLeft + box.clientWidth;
      const bottom = b.top + box.clientTop + box.clientHeight;
      const inside = r.left >= b.left - 0.5 && r.right <= right + 0.5
        && r.top >= b.top - 0.5 && r.bottom <= bottom + 0.5;
      if (!inside) {
        problems.push(`${name(button)} clipped by ${box.tagName}.${box.className}`);
        clipped = true;
        break;
      }
    }
    if (clipped) continue;
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !button.contains(hit)) {
      const what = hit ? `${hit.tagName}.${hit.className}` : "nothing";
      problems.push(`${name(button)} covered by ${what}`);
    }
  }
  window.scrollTo({ top: 0, left: 0, behavior: "instant" });
  return problems;
}"""


async def unreachable_buttons(page: Page, selector: str) -> list[str]:
    found: list[str] = await page.locator(selector).evaluate(UNREACHABLE_BUTTONS)
    return found


async def sticking_out(page: Page) -> list[str]:
    """Elements reaching past the right edge of the viewport, outside a scrolling table box."""
    found: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll("body *")].filter((e) => e.getClientRects().length
            && !e.closest(".table-scroll") && e.getBoundingClientRect().right > innerWidth + 0.5)
            .map((e) => `${e.tagName}#${e.id}.${e.className}`)"""
    )
    return found


async def button_count(page: Page, selector: str) -> int:
    count: int = await page.locator(selector).evaluate(
        "(root) => [...root.querySelectorAll('button')]"
        ".filter((b) => b.getClientRects().length).length"
    )
    return count


@pytest.fixture(scope="module")
async def busy_user(stack: Stack) -> AsyncIterator[str]:
    """A user with a job in every state that has its own buttons."""
    user = f"layout-{uuid.uuid4().hex[:8]}"
    export = await stack.api(user, "POST", "/api/v1/jobs/export", {"format": "csv"})
    aggregates = await stack.api(user, "POST", "/api/v1/jobs/aggregates", {"top_n": 3})
    failed = await submit_diagnostics(
        stack.lifecycle, owner=user, fail_attempts=1, max_attempts=1, numbers=[1]
    )
    retried = await submit_diagnostics(
        stack.lifecycle, owner=user, fail_attempts=2, max_attempts=3, numbers=[2]
    )
    running = await stack.api(
        user, "POST", "/api/v1/jobs/diagnostics", {"sleep_seconds": 600, "steps": 600}
    )
    for job_id, state in (
        (export["job_id"], JobState.SUCCEEDED),
        (aggregates["job_id"], JobState.SUCCEEDED),
        (failed.job_id, JobState.FAILED),
        (retried.job_id, JobState.SUCCEEDED),
        (running["job_id"], JobState.RUNNING),
    ):
        await wait_for_state(stack.store, job_id, {state}, timeout=60)
    yield user
    await stack.api(user, "POST", f"/api/v1/jobs/{running['job_id']}/cancel")


@pytest.mark.parametrize("width", WIDTHS)
async def test_every_job_button_is_in_view_and_clickable(
    page: Page, stack: Stack, busy_user: str, width: int
) -> None:
    await page.set_viewport_size({"width": width, "height": 800})
    await sign_in(page, stack.url, busy_user)
    rows = page.locator("#jobs-body tr")
    await expect(rows).to_have_count(5, timeout=10_000)
    for kind in ("download", "view", "retry", "cancel"):
        await expect(page.locator(f"#jobs-body button.{kind}")).to_have_count(1)
    assert await button_count(page, "body") >= 10
    await screenshot(page, f"jobs-{width}")
    assert await unreachable_buttons(page, "body") == []
    assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    # The new bits (copy buttons, the muted history of a retried job) are readable in both
    # themes.
    await page.locator("details.attempts summary").click()
    assert await low_contrast(page) == []
    await page.locator("#theme-toggle").click()
    await expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert await low_contrast(page) == []
    await screenshot(page, f"jobs-{width}-dark")
    # Each job type's own fields fit too (search has two inputs side by side).
    for kind in ("search", "aggregates", "export"):
        await page.get_by_label("Job type").select_option(kind)
        assert await sticking_out(page) == [], kind
    # A cell too wide for the box (a long unbroken message): the table scrolls inside its
    # box, and the actions stay in view, stuck to its right edge.
    await page.locator("#jobs-body tr[data-state='succeeded'] td.progress").first.evaluate(
        "td => td.append(Object.assign(document.createElement('div'), "
        "{ textContent: 'x'.repeat(400), style: 'white-space: nowrap' }))"
    )
    assert await page.locator(".table-scroll").first.evaluate(
        "box => box.scrollWidth > box.clientWidth"
    )
    assert await unreachable_buttons(page, "body") == []


@pytest.mark.parametrize("width", WIDTHS)
async def test_every_admin_button_is_in_view_and_clickable(
    page: Page, stack: Stack, busy_user: str, width: int
) -> None:
    await page.set_viewport_size({"width": width, "height": 800})
    await sign_in(page, stack.url, f"admin-{uuid.uuid4().hex[:8]}", admin=True)
    await page.get_by_role("tab", name="Admin").click()
    await expect(page.locator("#admin-workers table")).to_be_visible(timeout=10_000)
    await expect(page.locator("#admin-schedules table")).to_be_visible(timeout=10_000)
    await expect(page.locator("#admin-dead-letters table")).to_be_visible(timeout=10_000)
    assert await button_count(page, "#view-admin") >= 8
    # The reschedule form, with its longest label, opened.
    await page.locator("#admin-schedules button.secondary").first.click()
    await expect(page.locator("#reschedule-form")).to_be_visible()
    await page.get_by_label("Trigger", exact=True).select_option("cron")
    await screenshot(page, f"admin-{width}")
    assert await unreachable_buttons(page, "body") == []
    assert await sticking_out(page) == []
    assert await page.evaluate("document.documentElement.scrollWidth <= innerWidth")
