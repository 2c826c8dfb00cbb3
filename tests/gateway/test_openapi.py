"""The OpenAPI document (conveyor.gateway.api.openapi), generated from routes and contracts."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from conveyor.contracts.jobs import JOB_REQUEST_TYPES

Client = TestClient[Any, Any]


async def test_the_openapi_document_lists_every_job_type_with_its_schema(client: Client) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    doc = json.loads(await response.read())
    assert doc["openapi"].startswith("3.1")
    schemas = doc["components"]["schemas"]
    for job_type in JOB_REQUEST_TYPES:
        operation = doc["paths"][f"/api/v1/jobs/{job_type}"]["post"]
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body = schemas[ref.rsplit("/", 1)[1]]
        assert "type" not in body.get("required", [])
        assert set(operation["responses"]) >= {
            "202",
            "400",
            "401",
            "404",
            "409",
            "413",
            "415",
            "503",
        }
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert doc["paths"]["/api/v1/health"]["get"]["security"] == []
    assert "/api/v1/jobs/{job_id}/cancel" in doc["paths"]


async def test_every_reference_in_the_openapi_document_resolves(client: Client) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"], ref


async def test_the_result_endpoint_documents_both_result_shapes(client: Client) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    ok = doc["paths"]["/api/v1/jobs/{job_id}/result"]["get"]["responses"]["200"]
    shapes = ok["content"]["application/json"]["schema"]["oneOf"]
    names = {shape["$ref"].rsplit("/", 1)[1] for shape in shapes}
    assert names == {"AggregatesResult", "SearchResult"}
    search = doc["components"]["schemas"]["SearchResult"]
    assert {"total", "awards"} <= set(search["properties"])


async def test_admin_operations_with_a_body_document_its_schema(client: Client) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    for path, method, field in (
        ("/api/v1/admin/schedules/{name}/trigger", "put", "interval_seconds"),
        ("/api/v1/admin/dead-letters/replay", "post", "ids"),
    ):
        body = doc["paths"][path][method]["requestBody"]
        assert body["required"] is True
        ref = body["content"]["application/json"]["schema"]["$ref"]
        assert field in schemas[ref.rsplit("/", 1)[1]]["properties"]


async def test_each_job_type_documents_who_may_submit_it_and_that_admins_only_get_403(
    client: Client,
) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    for job_type, cls in JOB_REQUEST_TYPES.items():
        operation = doc["paths"][f"/api/v1/jobs/{job_type}"]["post"]
        assert operation["x-submitters"] == cls.submitters.value
        assert "403" in operation["responses"]
        if job_type.startswith("maintenance."):
            assert operation["x-submitters"] == "admins"
            assert "admin" in operation["summary"]


async def test_request_bodies_are_documented_as_refusing_unknown_fields(client: Client) -> None:
    doc = await (await client.get("/api/v1/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    for name in ("ExportRequestBody", "AwardFilters", "DateRange", "TriggerChange"):
        assert schemas[name]["additionalProperties"] is False, name
    assert "additionalProperties" not in schemas["JobRecord"]
