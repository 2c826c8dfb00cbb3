"""Who may submit which job type, and the diagnostics job's test hooks (submit_permissions)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from conveyor.contracts.jobs import JOB_REQUEST_TYPES, Submitters
from conveyor.runtime.tokens import OPERATOR_ROLE, mint_token
from tests.gateway.helpers import SECRET, auth, new_user, running_gateway

Client = TestClient[Any, Any]

MAINTENANCE = sorted(t for t in JOB_REQUEST_TYPES if t.startswith("maintenance."))
HOOKS = [
    ({"crash_deliveries": 1}, "$.crash_deliveries"),
    ({"fail_attempts": 2}, "$.fail_attempts"),
    ({"sleep_seconds": 3600}, "$.sleep_seconds"),
]


@pytest.fixture(scope="module")
async def production_client(namespace: str) -> AsyncIterator[Client]:
    """A gateway as deployed: test hooks off (the default)."""
    async with running_gateway(namespace, test_hooks=False) as (_, client):
        yield client


def operator() -> dict[str, str]:
    token = mint_token(SECRET, new_user(), roles=[OPERATOR_ROLE])
    return {"Authorization": f"Bearer {token}"}


def test_every_maintenance_type_is_declared_for_admins_and_the_rest_for_users() -> None:
    assert MAINTENANCE, "the maintenance types are named maintenance.*"
    for job_type, cls in JOB_REQUEST_TYPES.items():
        expected = Submitters.ADMINS if job_type in MAINTENANCE else Submitters.USERS
        assert cls.submitters is expected, job_type


@pytest.mark.parametrize("job_type", MAINTENANCE)
async def test_a_maintenance_job_is_refused_to_users_and_operators_and_taken_from_admins(
    client: Client, job_type: str
) -> None:
    body = {"older_than_days": 1} if job_type.endswith("purge_expired_jobs") else {}
    for who in (auth(new_user()), operator()):
        response = await client.post(f"/api/v1/jobs/{job_type}", json=body, headers=who)
        assert response.status == 403, await response.text()
        error = (await response.json())["error"]
        assert error["code"] == "forbidden"
        assert "admin" in error["message"]
    response = await client.post(
        f"/api/v1/jobs/{job_type}", json=body, headers=auth(new_user(), admin=True)
    )
    assert response.status == 202, await response.text()


async def test_a_refused_maintenance_job_is_refused_before_its_body_is_validated(
    client: Client,
) -> None:
    response = await client.post(
        "/api/v1/jobs/maintenance.purge_expired_jobs",
        json={"older_than_days": "not a number"},
        headers=auth(new_user()),
    )
    assert response.status == 403


@pytest.mark.parametrize(("body", "field"), HOOKS, ids=[f for _, f in HOOKS])
async def test_a_test_hook_is_refused_with_403_naming_it_when_hooks_are_off(
    production_client: Client, body: dict[str, Any], field: str
) -> None:
    for admin in (False, True):
        response = await production_client.post(
            "/api/v1/jobs/diagnostics", json=body, headers=auth(new_user(), admin=admin)
        )
        assert response.status == 403, await response.text()
        error = (await response.json())["error"]
        assert error == {**error, "code": "forbidden", "field": field}
        assert "CONVEYOR_TEST_HOOKS" in error["message"]


async def test_diagnostics_without_hooks_and_with_a_short_sleep_is_accepted_when_hooks_are_off(
    production_client: Client,
) -> None:
    body = {"numbers": [1, 2], "sleep_seconds": 10, "steps": 2}
    response = await production_client.post(
        "/api/v1/jobs/diagnostics", json=body, headers=auth(new_user())
    )
    assert response.status == 202, await response.text()


@pytest.mark.parametrize(("body", "field"), HOOKS, ids=[f for _, f in HOOKS])
async def test_a_test_hook_is_accepted_when_hooks_are_on(
    client: Client, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/v1/jobs/diagnostics", json=body, headers=auth(new_user()))
    assert response.status == 202, await response.text()
