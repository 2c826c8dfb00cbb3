"""Acting as admins, read-only operators and plain users of the monitoring API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp.test_utils import TestClient

from conveyor.runtime.tokens import ADMIN_ROLE, OPERATOR_ROLE, mint_token
from tests.gateway.helpers import SECRET

T = TypeVar("T")


def headers(role: str | None) -> dict[str, str]:
    roles = (role,) if role else ()
    return {"Authorization": f"Bearer {mint_token(SECRET, f'ops-{role}', roles=roles)}"}


ADMIN = headers(ADMIN_ROLE)
OPERATOR = headers(OPERATOR_ROLE)
USER = headers(None)


async def get_json(client: TestClient[Any, Any], path: str, who: dict[str, str] = ADMIN) -> Any:
    response = await client.get(path, headers=who)
    assert response.status == 200, await response.text()
    return await response.json()


async def eventually(
    read: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 15.0
) -> T:
    """Poll ``read`` until ``check`` holds; fails with the last value seen."""
    value = await read()
    try:
        async with asyncio.timeout(timeout):
            while not check(value):
                await asyncio.sleep(0.1)
                value = await read()
    except TimeoutError:
        raise AssertionError(f"never true; last value: {value!r}") from None
    return value
