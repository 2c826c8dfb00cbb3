"""The page's filter help shows the rules of the served OpenAPI document, word for word."""

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
