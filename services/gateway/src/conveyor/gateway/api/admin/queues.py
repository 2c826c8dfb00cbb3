"""``GET /api/v1/admin/queues``: depth, consumers and rates of every job queue."""

from __future__ import annotations

from aiohttp import web

from conveyor.contracts.errors import ErrorResponse
from conveyor.contracts.monitoring import QueueList
from conveyor.gateway.api._routes import Route, json_response
from conveyor.gateway.api.admin._broker_errors import broker_required
from conveyor.gateway.auth import require_observer
from conveyor.gateway.state import gateway_of
from conveyor.runtime.monitoring.pausing import paused_job_types
from conveyor.runtime.monitoring.queues import inspect_queues


async def get_queues(request: web.Request) -> web.Response:
    require_observer(request)
    gw = gateway_of(request)
    keys = gw.store.keys
    paused = await paused_job_types(gw.redis, keys)
    with broker_required(gw):
        queues = await inspect_queues(gw.broker, gw.store, paused=paused)
    return json_response(QueueList(queues=queues, paused_job_types=sorted(paused)))


ROUTES = [
    Route(
        "GET",
        "/api/v1/admin/queues",
        get_queues,
        summary="List queues with depth, consumers and rates",
        responses={200: QueueList, 401: ErrorResponse, 403: ErrorResponse, 503: ErrorResponse},
    ),
]
