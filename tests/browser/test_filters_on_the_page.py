"""What the page shows of the filter rules: the help text (from the served OpenAPI document) and
a top-N list for each kind of place name the areas filter takes."""

from __future__ import annotations

from playwright.async_api import Page, expect

from conveyor.contracts.filter_semantics import FIELD_RULES, FILTERS_DESCRIPTION
from tests.browser.conftest import Stack, sign_in


async def test_the_filter_help_shows_every_rule_of_the_schema(page: Page, stack: Stack) -> None:
    await sign_in(page, stack.url, "browser-filter-help")
    help_ = page.locator("#filter-help")
    await help_.locator("summary").click()
    items = help_.locator("li")
    await expect(items).to_have_count(len(FIELD_RULES))
    await expect(help_.locator("p")).to_have_text(FILTERS_DESCRIPTION.split("\n\n"))
    await expect(items).to_have_text([f"{n}: {r}" for n, r in FIELD_RULES.items()])


async def test_aggregates_show_top_regions_beside_top_areas(page: Page, stack: Stack) -> None:
    # The areas filter takes both kinds of place name; the result lists the top of each.
    await sign_in(page, stack.url, "browser-top-regions")
    await page.get_by_label("Job type").select_option("aggregates")
    await page.get_by_role("button", name="Submit", exact=True).click()
    row = page.locator("#jobs-body tr").first
    await expect(row).to_have_attribute("data-state", "succeeded", timeout=60_000)
    await row.get_by_role("button", name="View").click()
    result = page.locator("#result-body")
    await expect(result.get_by_role("img", name="Top areas of delivery")).to_be_visible()
    await expect(result.get_by_role("img", name="Top regions")).to_be_visible()
