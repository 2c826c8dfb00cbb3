"""Serve the task-manager page at ``/`` and its modules and styles under ``/static/``.

The page is plain JavaScript modules and CSS (no build step); it signs in with a bearer token
and then uses the same REST API and WebSocket as any other client.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/static/"
INDEX_FILE = STATIC_DIR / "index.html"

# The page and its modules change with every deploy: browsers revalidate (cheap 304s) rather
# than mixing an old module with a new one.
_NO_CACHE = {"Cache-Control": "no-cache"}
# Only our own modules, styles and API: no inline script can run, even if a job's data were
# ever rendered as markup by mistake.
_PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


async def index(request: web.Request) -> web.FileResponse:
    headers = {
        **_NO_CACHE,
        "Content-Type": "text/html; charset=utf-8",
        "Content-Security-Policy": _PAGE_POLICY,
        "X-Content-Type-Options": "nosniff",
    }
    return web.FileResponse(INDEX_FILE, headers=headers)


def setup_web(app: web.Application) -> None:
    """Serve the page at ``/`` and ``STATIC_DIR`` under ``/static/`` (public: no data in it)."""
    app.router.add_get("/", index)
    app.router.add_static(STATIC_PREFIX, STATIC_DIR, follow_symlinks=False)
    app.on_response_prepare.append(_revalidate_static)


async def _revalidate_static(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith(STATIC_PREFIX):
        response.headers.update(_NO_CACHE)


def is_public(path: str) -> bool:
    """The page and its assets need no token (the page asks for one)."""
    return path == "/" or path.startswith(STATIC_PREFIX)
