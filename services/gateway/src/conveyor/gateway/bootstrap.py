"""``bootstrap(settings)``: build every resource of the gateway and the app that serves them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from conveyor.gateway.api import setup_routes
from conveyor.gateway.auth import auth_middleware
from conveyor.gateway.errors import make_error_middleware
from conveyor.gateway.limits import UserLimits
from conveyor.gateway.observability import metrics_middleware, tracing_middleware
from conveyor.gateway.state import GATEWAY, Gateway
from conveyor.gateway.web.pages import setup_web
from conveyor.gateway.ws.handler import setup_websocket
from conveyor.gateway.ws.intake import EventIntake
from conveyor.runtime.limits import LimitStore
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.resources import open_resources
from conveyor.runtime.settings import GatewaySettings


def create_app(settings: GatewaySettings) -> web.Application:
    """The aiohttp app with every route and middleware; ``bootstrap`` attaches its resources."""
    app = web.Application(
        # Chunked bodies announce no length: aiohttp stops reading them at this size.
        client_max_size=settings.max_body_bytes,
        # Outermost first: the span covers everything; metrics see the final status; errors
        # turn exceptions (auth's included) into JSON.
        middlewares=[
            tracing_middleware,
            metrics_middleware,
            make_error_middleware(settings.retry_after_seconds),
            auth_middleware,
        ],
    )
    setup_routes(app)
    setup_websocket(app)
    setup_web(app)
    return app


@contextlib.asynccontextmanager
async def bootstrap(
    settings: GatewaySettings, *, metrics: Metrics | None = None
) -> AsyncIterator[Gateway]:
    """Open Redis, start connecting to RabbitMQ (in the background), and build the app.

    Yields the ``Gateway`` (``.app`` is the aiohttp application); closes everything on exit.
    The gateway answers even while RabbitMQ is down: submits get 503, health says which.
    """
    async with contextlib.AsyncExitStack() as stack:
        resources = await open_resources(settings, stack, service="gateway", wait_for_broker=False)
        metrics = metrics or resources.metrics
        intake = EventIntake(resources.broker, instance=settings.instance, metrics=metrics)
        intake.start()
        resources.lifecycle.on_queued = intake.offer_recorded
        stack.push_async_callback(intake.close)
        limits = LimitStore(
            resources.redis,
            resources.keys,
            resources.store,
            retention_seconds=settings.retention_seconds,
        )
        gateway = Gateway(
            settings=settings,
            redis=resources.redis,
            broker=resources.broker,
            store=resources.store,
            lifecycle=resources.lifecycle,
            metrics=metrics,
            intake=intake,
            app=create_app(settings),
            limits=UserLimits(limits, settings, metrics),
        )
        gateway.app[GATEWAY] = gateway
        yield gateway
