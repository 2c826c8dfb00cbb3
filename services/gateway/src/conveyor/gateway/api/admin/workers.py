"""``GET /api/v1/admin/workers``: every worker from its heartbeats, silent ones reported dead."""

from __future__ import annotations

from aiohttp import web

from conveyor.contracts.errors import ErrorResponse
from conveyor.contracts.monitoring import WorkerList
from conveyor.gateway.api._routes import Route, json_response
from conveyor.gateway.auth import require_observer
from conveyor.gateway.state import gateway_of
from conveyor.runtime.monitoring.workers import list_workers


async def get_workers(request: web.Request) -> web.Response:
    require_observer(request)
    gw = gateway_of(request)
    return json_response(WorkerList(workers=await list_workers(gw.redis, gw.store.keys)))


ROUTES = [
    Route(
        "GET",
        "/api/v1/admin/workers",
        get_workers,
        summary="List workers (alive and dead) from their heartbeats",
        responses={200: WorkerList, 401: ErrorResponse, 403: ErrorResponse},
    ),
]
