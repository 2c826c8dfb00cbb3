"""A route as both aiohttp serves it and the OpenAPI document describes it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from conveyor.contracts.codecs import encode
from conveyor.gateway.errors import ValidationFailedError


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    responses: dict[int, Any]
    """Status -> body type (a msgspec type), a tuple of them (one of these bodies), ``str`` for
    plain text, ``None`` for no body."""
    parameters: tuple[dict[str, Any], ...] = ()
    public: bool = False
    path_variants: dict[str, Any] = field(default_factory=dict)
    """Documented once per value of the path's single ``{...}`` part, with its body type."""
    request_body: Any = None
    """The msgspec type of a required JSON request body (routes without path variants)."""


def known_query_only(route: Route) -> Handler:
    """``route``'s handler, refusing query parameters it does not declare (400 naming one)."""
    declared = frozenset(p["name"] for p in route.parameters if p["in"] == "query")

    async def handler(request: web.Request) -> web.StreamResponse:
        unknown = sorted(set(request.query) - declared)
        if unknown:
            allowed = ", ".join(sorted(declared)) or "none"
            raise ValidationFailedError(
                f"unknown query parameter {unknown[0]!r} (allowed: {allowed})", field=unknown[0]
            )
        return await route.handler(request)

    return handler


def json_response(
    obj: object, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=encode(obj), content_type="application/json", headers=headers
    )


def header_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "header", "description": description, "schema": schema}


def query_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }
