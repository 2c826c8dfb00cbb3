"""The REST API: every route, registered on the app and described in the OpenAPI document."""

from __future__ import annotations

import msgspec
from aiohttp import web

from conveyor.gateway.api import (
    asyncapi,
    download,
    health,
    job_events,
    jobs,
    openapi,
    schedules,
    statistics,
    submit,
)
from conveyor.gateway.api._routes import Route, known_query_only
from conveyor.gateway.api.admin import ROUTES as ADMIN_ROUTES
from conveyor.gateway.api.results import ROUTES as RESULT_ROUTES

ROUTES: list[Route] = [
    *jobs.ROUTES,
    *download.ROUTES,
    *job_events.ROUTES,
    *RESULT_ROUTES,
    *submit.ROUTES,
    *health.ROUTES,
    *openapi.ROUTES,
    *schedules.ROUTES,
    *statistics.ROUTES,
    *asyncapi.ROUTES,
    *ADMIN_ROUTES,
]


def setup_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, known_query_only(route))
    app[openapi.OPENAPI_DOCUMENT] = msgspec.json.encode(openapi.build_openapi(ROUTES))
    app.cleanup_ctx.append(health.queue_sampling)
