"""Request middleware: a SERVER span per request (so a job's publish span is its child) and
HTTP request counts by method, route and status."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler
from opentelemetry.trace import SpanKind, Status, StatusCode

from conveyor.gateway.state import gateway_of
from conveyor.runtime.telemetry import extract_context, remote_child_span


def route_of(request: web.Request) -> str:
    """The route template (``/api/v1/jobs/{job_id}``), so metrics stay low-cardinality."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def tracing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = route_of(request)
    headers = request.headers
    # Only a request that carries a trace context has one to extract (W3C headers).
    carrier = {k.lower(): v for k, v in headers.items()} if "traceparent" in headers else None
    with remote_child_span(
        f"{request.method} {route}",
        extract_context(carrier),
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": request.method,
            "http.route": route,
            "url.path": request.path,
        },
    ) as span:
        response = await handler(request)
        span.set_attribute("http.response.status_code", response.status)
        if response.status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        return response


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Sits outside the error middleware, so it counts the status the client really got.
    response = await handler(request)
    gateway_of(request).metrics.http_requests.labels(
        request.method, route_of(request), str(response.status)
    ).inc()
    return response
