"""The task-manager page and its static files: public, no build step, locked down by CSP."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from conveyor.gateway.web.pages import STATIC_DIR

Client = TestClient[Any, Any]


async def test_the_page_needs_no_token_and_allows_only_its_own_scripts(client: Client) -> None:
    response = await client.get("/")
    assert response.status == 200
    assert response.content_type == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    page = await response.text()
    assert '<script type="module" src="/static/js/app.js">' in page
    assert "/api/v1/openapi.json" in page


async def test_every_module_the_page_imports_is_served_without_a_token(client: Client) -> None:
    modules = sorted(p.name for p in (STATIC_DIR / "js").glob("*.js"))
    assert "app.js" in modules
    for name in [*(f"js/{m}" for m in modules), "styles.css"]:
        response = await client.get(f"/static/{name}")
        assert response.status == 200, name
        assert response.headers["Cache-Control"] == "no-cache"
    js = await client.get("/static/js/app.js")
    assert js.content_type in ("text/javascript", "application/javascript")


async def test_a_missing_static_file_is_a_404_and_nothing_outside_is_reachable(
    client: Client,
) -> None:
    assert (await client.get("/static/nothing.js")).status == 404
    assert (await client.get("/static/../pages.py")).status in (401, 403, 404)
    assert (await client.get("/static/%2e%2e/pages.py")).status in (401, 403, 404)
