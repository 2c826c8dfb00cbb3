"""The REST API: every route, registered on the app and described in the OpenAPI document."""

from __future__ import annotations

import msgspec
from aiohttp import web

from conveyor.gateway.api import download, health, jobs, openapi, submit
from conveyor.gateway.api._routes import Route

ROUTES: list[Route] = [
    *jobs.ROUTES,
    *download.ROUTES,
    *submit.ROUTES,
    *health.ROUTES,
    *openapi.ROUTES,
]


def setup_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
    app[openapi.OPENAPI_DOCUMENT] = msgspec.json.encode(openapi.build_openapi(ROUTES))
