"""Running ``conveyor`` ops commands against a real gateway process and worker."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from conveyor.runtime.tokens import ADMIN_ROLE, OPERATOR_ROLE, mint_token
from tests.cli._run import CONVEYOR, clean_environ
from tests.support.jobs import FAST_WORKER_ENV, MAINTENANCE
from tests.support.namespace import delete_rabbit_entities, delete_redis_keys, new_namespace
from tests.support.services import ServiceProcess, running_worker, start_gateway

SECRET = "cli-ops-tests-secret-of-32-bytes-or-more"


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass(frozen=True)
class Stack:
    """A gateway process and a maintenance worker in their own namespace."""

    namespace: str
    url: str
    worker: ServiceProcess

    def env(self, user: str = "cli-user", *roles: str, **extra: str) -> dict[str, str]:
        token = mint_token(SECRET, user, roles=roles)
        return clean_environ(CONVEYOR_GATEWAY_URL=self.url, CONVEYOR_TOKEN=token, **extra)

    def admin(self) -> dict[str, str]:
        return self.env("cli-admin", ADMIN_ROLE)

    def operator(self) -> dict[str, str]:
        return self.env("cli-operator", OPERATOR_ROLE)


async def cli(*args: str, env: dict[str, str], timeout: float = 60) -> Result:
    """Run ``conveyor ARGS`` as a process without blocking the event loop."""
    process = await asyncio.create_subprocess_exec(
        *CONVEYOR,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        print(out.decode(), err.decode(), file=sys.stderr)
        raise
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


async def api_get(stack: Stack, path: str) -> Any:
    """Read the API directly (as an admin), for waiting on a state without a CLI process."""
    token = mint_token(SECRET, "cli-admin", roles=(ADMIN_ROLE,))
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session,
        session.get(stack.url + path) as response,
    ):
        assert response.status == 200, await response.text()
        return await response.json()


@pytest.fixture(scope="session", name="stack")
async def stack_fixture(redis: Redis) -> AsyncIterator[Stack]:
    """One stack for the whole run (tests/cli/conftest.py registers it): starting a gateway
    and a worker takes seconds on a busy machine."""
    namespace = new_namespace()
    gateway, url = await start_gateway(
        namespace, CONVEYOR_JWT_SECRET=SECRET, CONVEYOR_MAX_ATTEMPTS="1"
    )
    try:
        # With its scheduler, so the default schedules exist for ``conveyor schedules``.
        env = {**FAST_WORKER_ENV, "CONVEYOR_SCHEDULER_ENABLED": "true"}
        async with running_worker(MAINTENANCE, namespace, redis, **env) as worker:
            yield Stack(namespace, url, worker)
    finally:
        await gateway.stop()
        await delete_redis_keys(namespace)
        await delete_rabbit_entities(namespace)
