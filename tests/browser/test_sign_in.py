"""Signing in and out, and the theme button (app.js, auth.js), in headless Chromium."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from playwright.async_api import Page, expect

from conveyor.runtime.tokens import mint_token
from tests.browser.conftest import SECRET, Stack, sign_in


def new_user() -> str:
    return f"signin-{uuid.uuid4().hex[:8]}"


async def try_token(page: Page, url: str, token: str) -> None:
    await page.goto(url)
    await expect(page.locator("#who")).to_have_text("not signed in")
    await page.get_by_label("Bearer token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def test_a_token_signed_with_another_secret_is_rejected_not_signed_out(
    page: Page, stack: Stack
) -> None:
    forged = mint_token("another-secret-of-32-bytes-or-more!!", new_user())
    await try_token(page, stack.url, forged)
    notice = page.locator("#notice")
    await expect(notice).to_have_text(
        "Token rejected: its signature is invalid (it was not signed with this gateway's secret)."
    )
    await expect(notice).to_have_attribute("data-kind", "error")
    await expect(page.locator("#sign-in")).to_be_visible()
    await expect(page.locator("#workspace")).to_be_hidden()
    await expect(page.locator("#who")).to_have_text("not signed in")
    assert await page.evaluate("sessionStorage.length") == 0


async def test_an_expired_token_is_rejected_as_expired(page: Page, stack: Stack) -> None:
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    expired = mint_token(SECRET, new_user(), ttl_seconds=3600, now=yesterday)
    await try_token(page, stack.url, expired)
    await expect(page.locator("#notice")).to_have_text(
        "Token rejected: the token has expired. Mint a new one (uv run conveyor token --user NAME)."
    )
    await expect(page.locator("#workspace")).to_be_hidden()


async def test_something_that_is_not_a_token_is_refused_before_asking_the_gateway(
    page: Page, stack: Stack
) -> None:
    await try_token(page, stack.url, "hello")
    await expect(page.locator("#notice")).to_have_text(
        "Not signed in: that does not look like a bearer token (a JWT)."
    )


async def test_signing_out_says_signed_out(page: Page, stack: Stack) -> None:
    await sign_in(page, stack.url, new_user())
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator("#notice")).to_have_text("Signed out.")
    await expect(page.locator("#notice")).to_have_attribute("data-kind", "info")
    await expect(page.locator("#who")).to_have_text("not signed in")
    await expect(page.locator("#sign-in")).to_be_visible()


async def test_a_token_expiring_during_the_session_signs_out_saying_why(
    page: Page, stack: Stack
) -> None:
    await page.goto(stack.url)
    await page.get_by_label("Bearer token").fill(mint_token(SECRET, new_user(), ttl_seconds=3))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#workspace")).to_be_visible(timeout=10_000)
    notice = page.locator("#notice")
    refresh = page.get_by_role("button", name="Refresh")
    expected = "Signed out: the token has expired. Sign in again with a valid token."
    # Each refresh asks the gateway; once the token has expired its 401 ends the session.
    async with asyncio.timeout(20):
        while await refresh.is_visible():
            await refresh.click()
            await page.wait_for_timeout(250)
    await expect(notice).to_have_text(expected)
    await expect(page.locator("#sign-in")).to_be_visible()


async def test_the_theme_button_names_the_theme_it_switches_to_and_the_choice_is_kept(
    page: Page, stack: Stack
) -> None:
    await page.emulate_media(color_scheme="light")
    await page.goto(stack.url)
    html = page.locator("html")
    await expect(html).to_have_attribute("data-theme", "light")
    await page.get_by_role("button", name="Dark mode").click()
    await expect(html).to_have_attribute("data-theme", "dark")
    toggle = page.locator("#theme-toggle")
    await expect(toggle).to_have_text("Light mode")
    await page.reload()  # the saved choice wins over the system's light preference
    await expect(html).to_have_attribute("data-theme", "dark")
    await expect(toggle).to_have_text("Light mode")
    await toggle.click()
    await expect(html).to_have_attribute("data-theme", "light")
    await expect(toggle).to_have_text("Dark mode")


async def test_without_a_saved_choice_the_theme_follows_the_system(
    page: Page, stack: Stack
) -> None:
    await page.emulate_media(color_scheme="dark")
    await page.goto(stack.url)
    await expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    await expect(page.locator("#theme-toggle")).to_have_text("Light mode")
