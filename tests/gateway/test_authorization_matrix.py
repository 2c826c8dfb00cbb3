"""Every route of the gateway against every kind of caller: one declared row per route.

A route the gateway serves without a row in ``MATRIX`` fails
``test_every_served_route_has_a_row``, so a new route cannot ship without saying who may use
it. Each row is then checked cell by cell against the running gateway (real RabbitMQ and
Redis). Columns: no token, an expired token, a token signed with another secret, a token whose
subject is a reserved owner (``scheduler``), the user who owns the job in the path, another
plain user, a read-only operator, an admin. ``/ws`` cells are 101 for a ``welcome`` and the
close code otherwise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from conveyor.contracts.jobs import JOB_REQUEST_TYPES, SCHEDULER_OWNER
from conveyor.gateway.state import Gateway
from conveyor.maintenance.default_schedules import default_schedules
from conveyor.runtime.schedule_store import ScheduleStore
from conveyor.runtime.tokens import ADMIN_ROLE, OPERATOR_ROLE, mint_token
from tests.gateway.helpers import SECRET, new_user, running_gateway

Client = TestClient[Any, Any]

WS_OK = 101
WS_REFUSED = 4401


@dataclass(frozen=True)
class Row:
    """The expected status for each caller (see the module docstring for the columns)."""

    user: int
    other_user: int
    operator: int
    admin: int
    anonymous: int = 401
    expired: int = 401
    bad_signature: int = 401
    reserved: int = 401
    body: Any = None
    """JSON body sent with the request (``None``: no body)."""


COLUMNS = tuple(f.name for f in dataclasses.fields(Row) if f.name != "body")


def public(status: int = 200) -> Row:
    return Row(status, status, status, status, status, status, status, status)


def any_user(status: int, body: Any = None) -> Row:
    return Row(status, status, status, status, body=body)


def owner_or_admin(status: int) -> Row:
    """A job of ``user``: others are told it does not exist (404), admins see it."""
    return Row(user=status, other_user=404, operator=404, admin=status)


def owner_only(status: int) -> Row:
    """A job of ``user`` whose data only its owner may read (admins too get 404)."""
    return Row(user=status, other_user=404, operator=404, admin=404)


def observers(status: int = 200) -> Row:
    """Admins and read-only operators."""
    return Row(user=403, other_user=403, operator=status, admin=status)


def admins(status: int, body: Any = None) -> Row:
    return Row(user=403, other_user=403, operator=403, admin=status, body=body)


ADMIN = "/api/v1/admin"
SCHEDULE = f"{ADMIN}/schedules/{{name}}"

MATRIX: dict[tuple[str, str], Row] = {
    # public: the page, its assets, health, metrics and the API documents
    ("GET", "/"): public(),
    ("GET", "/static"): public(),
    ("GET", "/metrics"): public(),
    ("GET", "/api/v1/health"): public(),
    ("GET", "/api/v1/openapi.json"): public(),
    ("GET", "/api/v1/asyncapi.json"): public(),
    # the WebSocket: any valid token
    ("GET", "/ws"): Row(WS_OK, WS_OK, WS_OK, WS_OK, WS_REFUSED, WS_REFUSED, WS_REFUSED, WS_REFUSED),
    # jobs (``POST /api/v1/jobs/{type}`` has one row per job type in SUBMIT)
    ("GET", "/api/v1/jobs"): any_user(200),
    ("GET", "/api/v1/jobs/{job_id}"): owner_or_admin(200),
    ("POST", "/api/v1/jobs/{job_id}/cancel"): owner_or_admin(200),
    ("GET", "/api/v1/jobs/{job_id}/result"): owner_only(409),  # 409: not finished yet
    ("GET", "/api/v1/jobs/{job_id}/download"): owner_only(404),  # 404: no file yet
    ("GET", "/api/v1/jobs/{job_id}/events"): owner_only(200),
    # the public dataset's daily statistics: any signed-in user (404: none computed here)
    ("GET", "/api/v1/statistics/daily"): any_user(404),
    # schedules
    ("GET", f"{ADMIN}/schedules"): observers(),
    ("GET", SCHEDULE): observers(),
    ("POST", f"{SCHEDULE}/pause"): admins(200),
    ("POST", f"{SCHEDULE}/resume"): admins(200),
    ("PUT", f"{SCHEDULE}/trigger"): admins(200, body={"cron": "0 2 * * *"}),
    ("POST", f"{SCHEDULE}/run"): admins(202),
    # monitoring and control
    ("GET", f"{ADMIN}/workers"): observers(),
    ("GET", f"{ADMIN}/queues"): observers(),
    ("GET", f"{ADMIN}/dead-letters"): observers(),
    ("POST", f"{ADMIN}/dead-letters/replay"): admins(200, body={"all": True}),
    ("DELETE", f"{ADMIN}/dead-letters"): admins(200),
    ("GET", f"{ADMIN}/stats/jobs"): observers(),
    ("POST", f"{ADMIN}/job-types/{{job_type}}/pause"): admins(202),
    ("POST", f"{ADMIN}/job-types/{{job_type}}/resume"): admins(202),
    # 404 for admins: no live worker in this namespace (the role is checked first)
    ("POST", f"{ADMIN}/workers/{{instance}}/drain"): admins(404),
    ("POST", f"{ADMIN}/workers/drain"): admins(202),
}

SUBMIT_ROUTE = ("POST", "/api/v1/jobs/{type}")
SUBMIT: dict[str, Row] = {
    "diagnostics": any_user(202, body={}),
    "export": any_user(202, body={}),
    "aggregates": any_user(202, body={}),
    "search": any_user(202, body={}),
    "maintenance.cleanup_exports": admins(202, body={}),
    "maintenance.validate_dataset": admins(202, body={}),
    "maintenance.compute_daily_statistics": admins(202, body={}),
    "maintenance.check_system_health": admins(202, body={}),
    "maintenance.purge_expired_jobs": admins(202, body={"older_than_days": 30}),
}

# Concrete values for the path's parameters ({job_id} is a fresh job of ``user`` per cell).
PARAMETERS = {"name": "cleanup-exports", "job_type": "diagnostics", "instance": "nobody"}
EXAMPLE_PATHS = {"/static": "/static/js/live.js"}


@dataclass(frozen=True)
class Callers:
    user: str
    headers: dict[str, dict[str, str]]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def callers() -> Callers:
    user = new_user()
    forged = jwt.encode(
        {"sub": SCHEDULER_OWNER, "roles": [ADMIN_ROLE], "iat": 0, "exp": 2**40},
        SECRET,
        algorithm="HS256",
    )
    return Callers(
        user=user,
        headers={
            "anonymous": {},
            "expired": _bearer(mint_token(SECRET, user, ttl_seconds=-10)),
            "bad_signature": _bearer(mint_token("another-secret-of-32-bytes-or-more!!", user)),
            "reserved": _bearer(forged),
            "user": _bearer(mint_token(SECRET, user)),
            "other_user": _bearer(mint_token(SECRET, new_user())),
            "operator": _bearer(mint_token(SECRET, new_user(), roles=[OPERATOR_ROLE])),
            "admin": _bearer(mint_token(SECRET, new_user(), roles=[ADMIN_ROLE])),
        },
    )


@pytest.fixture(scope="module")
async def matrix_gateway(
    module_namespace: str,
) -> AsyncIterator[tuple[Gateway, Client]]:
    """A gateway of its own: the matrix pauses job types and purges dead letters."""
    async with running_gateway(module_namespace) as (gateway, client):
        await ScheduleStore(gateway.redis, gateway.store.keys).seed(default_schedules("UTC"))
        yield gateway, client


def served_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path template) of every route the app serves; HEAD goes with its GET."""
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
    }
    return {(m, p) for m, p in served if m != "HEAD" or ("GET", p) not in served}


async def test_every_served_route_has_a_row(matrix_gateway: tuple[Gateway, Client]) -> None:
    served = served_routes(matrix_gateway[0].app)
    declared = {*MATRIX, SUBMIT_ROUTE}
    assert served - declared == set(), "routes without a row in MATRIX: declare who may use them"
    assert declared - served == set(), "rows for routes the gateway does not serve"
    assert set(SUBMIT) == set(JOB_REQUEST_TYPES), "every job type needs a row in SUBMIT"


async def _status(
    client: Client, method: str, path: str, headers: dict[str, str], body: Any
) -> int:
    if path == "/ws":
        return await _websocket_status(client, headers)
    response = await client.request(method, path, headers=headers, json=body)
    await response.read()
    return response.status


async def _websocket_status(client: Client, headers: dict[str, str]) -> int:
    async with client.ws_connect("/ws", headers=headers) as ws:
        if not headers:
            await ws.send_json({"type": "ping"})  # not an auth message: refused at once
        message = await ws.receive(timeout=5)
        if message.type is aiohttp.WSMsgType.TEXT and message.json()["type"] == "welcome":
            return WS_OK
        assert message.type is aiohttp.WSMsgType.CLOSE, message
        code: int = message.data
        return code


async def _new_job(client: Client, headers: dict[str, str]) -> str:
    response = await client.post("/api/v1/jobs/diagnostics", json={}, headers=headers)
    assert response.status == 202, await response.text()
    job_id: str = (await response.json())["job_id"]
    return job_id


async def _check_row(client: Client, method: str, template: str, row: Row) -> list[str]:
    who = callers()
    wrong = []
    for column in COLUMNS:
        path = EXAMPLE_PATHS.get(template, template).format(
            **PARAMETERS,
            job_id=await _new_job(client, who.headers["user"]) if "{job_id}" in template else "",
        )
        status = await _status(client, method, path, who.headers[column], row.body)
        expected = getattr(row, column)
        if status != expected:
            wrong.append(f"{column}: {status}, expected {expected}")
    return wrong


@pytest.mark.parametrize(("method", "template"), list(MATRIX), ids=[" ".join(k) for k in MATRIX])
async def test_each_caller_gets_the_declared_status(
    matrix_gateway: tuple[Gateway, Client], method: str, template: str
) -> None:
    wrong = await _check_row(matrix_gateway[1], method, template, MATRIX[(method, template)])
    assert wrong == [], f"{method} {template}: " + "; ".join(wrong)


@pytest.mark.parametrize("job_type", list(SUBMIT))
async def test_each_caller_may_submit_the_declared_job_types(
    matrix_gateway: tuple[Gateway, Client], job_type: str
) -> None:
    path = f"/api/v1/jobs/{job_type}"
    wrong = await _check_row(matrix_gateway[1], "POST", path, SUBMIT[job_type])
    assert wrong == [], f"POST {path}: " + "; ".join(wrong)
