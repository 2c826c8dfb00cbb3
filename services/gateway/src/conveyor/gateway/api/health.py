"""Operational endpoints without a token: ``/api/v1/health`` and ``/metrics``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
from aiohttp import web

from conveyor.gateway.api._routes import Route, json_response
from conveyor.gateway.state import GATEWAY, Gateway, gateway_of
from conveyor.runtime.queue_sampler import QueueSampler
from conveyor.runtime.store_epoch import StoreEpoch

PING_TIMEOUT = 2.0
QUEUE_SAMPLER = web.AppKey("queue_sampler", QueueSampler)


class HealthReport(msgspec.Struct, kw_only=True, omit_defaults=True):
    """``status`` is ``ok`` when every check passed, else ``unavailable``. ``redis_data_lost_at``
    says when this gateway last saw Redis come back without its data (records, histories and
    added schedules from before are gone); the service itself is healthy again by then."""

    status: str
    checks: dict[str, str]
    redis_data_lost_at: str | None = None


async def _check_redis(gw: Gateway) -> str:
    if gw.epoch is None:
        gw.epoch = StoreEpoch(gw.redis, gw.store.keys)
    try:
        async with asyncio.timeout(PING_TIMEOUT):
            await gw.epoch.check()  # one round trip: reachable, and whether data was lost
    except Exception as exc:  # any failure is the answer, not an error of ours
        return f"unavailable: {type(exc).__name__}: {exc}"
    return "ok"


async def health(request: web.Request) -> web.Response:
    gw = gateway_of(request)
    checks = {
        "redis": await _check_redis(gw),
        "rabbitmq": "ok" if gw.broker.is_available else "unavailable",
    }
    ok = all(value == "ok" for value in checks.values())
    lost_at = gw.epoch.lost_at if gw.epoch is not None else None
    report = HealthReport(
        status="ok" if ok else "unavailable",
        checks=checks,
        redis_data_lost_at=lost_at.isoformat() if lost_at else None,
    )
    return json_response(report, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    m = gateway_of(request).metrics
    sampler = request.app.get(QUEUE_SAMPLER)
    if sampler is not None:
        await sampler.sample()
    return web.Response(body=m.render(), headers={"Content-Type": m.content_type})


async def queue_sampling(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx`` of the app: the queue sampler ``/metrics`` refreshes on each scrape."""
    gateway = app.get(GATEWAY)
    if gateway is None:  # an app served without bootstrap's resources (some unit tests)
        yield
        return
    sampler = QueueSampler(gateway.broker, gateway.metrics)
    app[QUEUE_SAMPLER] = sampler
    yield
    await sampler.close()


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
]
