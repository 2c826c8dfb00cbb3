"""Operational endpoints without a token: ``/api/v1/health``, ``/metrics`` and the index page."""

from __future__ import annotations

import asyncio

import msgspec
from aiohttp import web

from conveyor.gateway.api._routes import Route, json_response
from conveyor.gateway.state import gateway_of

PING_TIMEOUT = 2.0


class HealthReport(msgspec.Struct, kw_only=True):
    """``status`` is ``ok`` when every check passed, else ``unavailable``."""

    status: str
    checks: dict[str, str]


async def _check_redis(request: web.Request) -> str:
    try:
        async with asyncio.timeout(PING_TIMEOUT):
            await gateway_of(request).redis.ping()
    except Exception as exc:  # any failure is the answer, not an error of ours
        return f"unavailable: {type(exc).__name__}: {exc}"
    return "ok"


async def health(request: web.Request) -> web.Response:
    checks = {
        "redis": await _check_redis(request),
        "rabbitmq": "ok" if gateway_of(request).broker.is_available else "unavailable",
    }
    ok = all(value == "ok" for value in checks.values())
    report = HealthReport(status="ok" if ok else "unavailable", checks=checks)
    return json_response(report, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    m = gateway_of(request).metrics
    return web.Response(body=m.render(), headers={"Content-Type": m.content_type})


_INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Conveyor</title></head>
<body><h1>Conveyor gateway</h1>
<p>REST API under <code>/api/v1</code> (<a href="/api/v1/openapi.json">OpenAPI document</a>),
WebSocket at <code>/ws</code>, <a href="/api/v1/health">health</a>,
<a href="/metrics">metrics</a>.</p></body></html>
"""


async def index(request: web.Request) -> web.Response:
    return web.Response(text=_INDEX, content_type="text/html")


ROUTES = [
    Route(
        "GET",
        "/api/v1/health",
        health,
        summary="Whether Redis and RabbitMQ are reachable",
        responses={200: HealthReport, 503: HealthReport},
        public=True,
    ),
    Route(
        "GET", "/metrics", metrics, summary="Prometheus metrics", responses={200: str}, public=True
    ),
    Route(
        "GET", "/", index, summary="A page pointing at the API", responses={200: str}, public=True
    ),
]
