"""An in-process gateway on the real RabbitMQ and Redis, and tokens for its users."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from conveyor.dev_support.namespace import AMQP_URL, REDIS_URL
from conveyor.gateway.bootstrap import bootstrap
from conveyor.gateway.state import Gateway
from conveyor.runtime.settings import GatewaySettings, load_settings
from conveyor.runtime.tokens import mint_token

SECRET = "benchmark-gateway-secret-of-32-bytes-or-more"


@contextlib.asynccontextmanager
async def running_gateway(
    namespace: str, **overrides: Any
) -> AsyncIterator[tuple[Gateway, TestClient[Any, Any]]]:
    """A gateway app built by ``bootstrap`` and served by aiohttp's test server."""
    values: dict[str, Any] = {
        "namespace": namespace,
        "http_port": 0,
        "amqp_url": AMQP_URL,
        "redis_url": REDIS_URL,
        "jwt_secret": SECRET,
        "test_hooks": True,
        "instance": f"bench-{uuid.uuid4().hex[:8]}",
        **overrides,
    }
    async with bootstrap(load_settings(GatewaySettings, {}, **values)) as gateway:
        await asyncio.wait_for(gateway.intake.ready.wait(), 15)
        async with TestClient(TestServer(gateway.app)) as client:
            yield gateway, client


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, user)}"}
