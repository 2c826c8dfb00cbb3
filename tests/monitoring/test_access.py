"""Who may use the monitoring API: admins everything, operators reads, users nothing."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.monitoring.support import ADMIN, OPERATOR, USER

READS = [
    "/api/v1/admin/workers",
    "/api/v1/admin/queues",
    "/api/v1/admin/dead-letters",
    "/api/v1/admin/stats/jobs?window=1h",
]
WRITES = [
    ("POST", "/api/v1/admin/dead-letters/replay"),
    ("DELETE", "/api/v1/admin/dead-letters"),
    ("POST", "/api/v1/admin/job-types/diagnostics/pause"),
    ("POST", "/api/v1/admin/job-types/diagnostics/resume"),
    ("POST", "/api/v1/admin/workers/nobody/drain"),
    ("POST", "/api/v1/admin/workers/drain"),
]


@pytest.mark.parametrize("path", READS)
async def test_admins_and_operators_read_and_users_are_refused(
    ops_client: TestClient[Any, Any], path: str
) -> None:
    for who in (ADMIN, OPERATOR):
        response = await ops_client.get(path, headers=who)
        assert response.status == 200, await response.text()
    response = await ops_client.get(path, headers=USER)
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"
    assert (await ops_client.get(path)).status == 401


@pytest.mark.parametrize(("method", "path"), WRITES)
async def test_an_operator_cannot_change_anything(
    ops_client: TestClient[Any, Any], method: str, path: str
) -> None:
    for who in (OPERATOR, USER):
        response = await ops_client.request(method, path, headers=who, json={"all": True})
        assert response.status == 403, await response.text()
        assert "admin" in (await response.json())["error"]["message"]


async def test_every_admin_route_is_in_the_openapi_document(
    ops_client: TestClient[Any, Any],
) -> None:
    document = await (await ops_client.get("/api/v1/openapi.json")).json()
    for path in [p.split("?")[0] for p in READS] + [p for _, p in WRITES]:
        templated = path.replace("/diagnostics/", "/{job_type}/").replace(
            "/nobody/", "/{instance}/"
        )
        assert templated in document["paths"], templated
