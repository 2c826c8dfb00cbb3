"""The OpenAPI 3.1 document, generated from the route table and the contracts' msgspec types."""

from __future__ import annotations

import copy
import http
import re
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec
from aiohttp import web

from conveyor.contracts.errors import ErrorResponse
from conveyor.contracts.jobs import Submitters
from conveyor.gateway.api._routes import Route

REF_TEMPLATE = "#/components/schemas/{name}"
OPENAPI_PATH = "/api/v1/openapi.json"
OPENAPI_DOCUMENT = web.AppKey("openapi_document", bytes)

_DESCRIPTION = (
    "Submit background jobs, follow them and cancel them. Every call except health, metrics "
    "and this document needs an `Authorization: Bearer <JWT>` header. Errors are always an "
    "`ErrorResponse`. Job events stream over the WebSocket at `/ws` (see WEBSOCKET.md)."
)


def _schema_types(routes: Sequence[Route]) -> list[Any]:
    """Every msgspec type the document references, each once, in a stable order."""
    seen: list[Any] = [ErrorResponse]
    for route in routes:
        bodies = (*route.responses.values(), *route.path_variants.values(), route.request_body)
        for body in bodies:
            for one in body if isinstance(body, tuple) else (body,):
                if one not in (None, str) and one not in seen:
                    seen.append(one)
    return seen


def _body_without_tag(schema: dict[str, Any]) -> dict[str, Any]:
    # The submit path already names the type, so the body's ``type`` tag is optional there.
    body = copy.deepcopy(schema)
    if "type" in body.get("required", []):
        body["required"] = [name for name in body["required"] if name != "type"]
        if not body["required"]:
            del body["required"]
    return body


def _content(schema: dict[str, Any] | None, media_type: str) -> dict[str, Any]:
    return {media_type: {"schema": schema}} if schema is not None else {media_type: {}}


def _response(status: int, body: Any, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    response: dict[str, Any] = {"description": http.HTTPStatus(status).phrase}
    if body is str:
        response["content"] = {"text/plain": {"schema": {"type": "string"}}}
    elif isinstance(body, tuple):  # one of several bodies (untagged Structs: no msgspec union)
        response["content"] = _content({"oneOf": [refs[b] for b in body]}, "application/json")
    elif body is not None:
        response["content"] = _content(refs[body], "application/json")
    if status == 503:
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
        }
    return response


def _operation(
    route: Route, refs: dict[Any, dict[str, Any]], path: str, body_ref: dict[str, Any] | None
) -> dict[str, Any]:
    operation_id = re.sub(r"[^A-Za-z0-9]+", "_", f"{route.method.lower()} {path}").strip("_")
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": route.summary,
        # Every route answers an undeclared query parameter with a 400 (``known_query_only``).
        "responses": {
            str(status): _response(status, body, refs)
            for status, body in sorted({400: ErrorResponse, **route.responses}.items())
        },
    }
    if route.parameters:
        operation["parameters"] = list(route.parameters)
    if body_ref is not None:
        operation["requestBody"] = {
            "required": False,
            "content": _content(body_ref, "application/json"),
        }
    elif route.request_body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": _content(refs[route.request_body], "application/json"),
        }
    if route.public:
        operation["security"] = []
    return operation


def _document_submitters(operation: dict[str, Any], body_type: Any) -> None:
    """Who may submit a job type, as declared beside it in the contracts."""
    submitters = getattr(body_type, "submitters", None)
    if not isinstance(submitters, Submitters):
        return
    operation["x-submitters"] = submitters.value
    if submitters is Submitters.ADMINS:
        operation["summary"] += " (admin)"
        operation["description"] = "Only tokens with the `admin` role may submit this job type."
    else:
        operation["description"] = "Every authenticated user may submit this job type."


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[1]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _forbid_unknown_fields(components: dict[str, Any], paths: dict[str, dict[str, Any]]) -> None:
    """Mark every object a request body can contain as closed, as the gateway decodes them
    (``api.bodies``): an unknown field is a 400."""
    bodies = [
        op["requestBody"] for ops in paths.values() for op in ops.values() if "requestBody" in op
    ]
    pending = list(_refs(bodies))
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        schema = components[name]
        if schema.get("type") == "object" and "properties" in schema:
            schema["additionalProperties"] = False
        pending.extend(_refs(schema))


def build_openapi(routes: Sequence[Route], *, version: str = "1") -> dict[str, Any]:
    types = _schema_types(routes)
    roots, components = msgspec.json.schema_components(types, ref_template=REF_TEMPLATE)
    refs = dict(zip(types, roots, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not route.path_variants:
            paths.setdefault(route.path, {})[route.method.lower()] = _operation(
                route, refs, route.path, None
            )
            continue
        placeholder = re.search(r"\{[^}]+\}", route.path)
        assert placeholder is not None, "path_variants need a {placeholder} in the path"
        for value, body_type in route.path_variants.items():
            path = route.path.replace(placeholder.group(0), value)
            name = refs[body_type]["$ref"].rsplit("/", 1)[1]
            body_name = f"{name}Body"
            components[body_name] = _body_without_tag(components[name])
            body_ref = {"$ref": REF_TEMPLATE.format(name=body_name)}
            operation = _operation(route, refs, path, body_ref)
            operation["summary"] = f"{route.summary}: {value}"
            _document_submitters(operation, body_type)
            paths.setdefault(path, {})[route.method.lower()] = operation
    _forbid_unknown_fields(components, paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Conveyor gateway", "version": version, "description": _DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearerAuth": []}],
    }


async def openapi_document(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_DOCUMENT], content_type="application/json")


ROUTES = [
    Route(
        "GET",
        OPENAPI_PATH,
        openapi_document,
        summary="This document",
        responses={200: None},
        public=True,
    )
]
