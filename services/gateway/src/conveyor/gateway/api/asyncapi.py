"""``GET /api/v1/asyncapi.json``: the AsyncAPI document of this deployment's AMQP interface."""

from __future__ import annotations

import functools

import msgspec
from aiohttp import web

from conveyor.contracts.asyncapi import build_asyncapi, public_server_url
from conveyor.contracts.topology import Topology
from conveyor.gateway.api._routes import Route
from conveyor.gateway.state import gateway_of

ASYNCAPI_PATH = "/api/v1/asyncapi.json"


@functools.lru_cache(maxsize=4)
def _document(namespace: str, amqp_url: str) -> bytes:
    # Credentials never leave the gateway: the document names the broker's host and port only.
    server = public_server_url(amqp_url)
    return msgspec.json.encode(build_asyncapi(Topology(namespace), server_url=server))


async def asyncapi_document(request: web.Request) -> web.Response:
    settings = gateway_of(request).settings
    return web.Response(
        body=_document(settings.namespace, settings.amqp_url), content_type="application/json"
    )


ROUTES = [
    Route(
        "GET",
        ASYNCAPI_PATH,
        asyncapi_document,
        summary="The AsyncAPI 2.6 document of the AMQP interface (jobs, events, control)",
        responses={200: None},
        public=True,
    )
]
