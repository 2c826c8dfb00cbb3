"""A namespace of its own for a module whose assertions need one.

Import ``own_namespace`` into the module: it overrides the package's shared
``module_namespace`` there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.namespace import delete_rabbit_entities, delete_redis_keys, new_namespace


@pytest.fixture(scope="module", name="module_namespace")
async def own_namespace() -> AsyncIterator[str]:
    ns = new_namespace()
    yield ns
    await delete_redis_keys(ns)
    await delete_rabbit_entities(ns)
