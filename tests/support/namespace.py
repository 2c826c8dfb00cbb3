"""A throwaway namespace per test run (``test-<hex>``), its service processes in the run's
transport mode; the plumbing itself is shared with the benchmarks (conveyor.dev_support)."""

from __future__ import annotations

import os

from conveyor.dev_support import namespace as _shared
from conveyor.dev_support.namespace import (
    AMQP_URL,
    REDIS_URL,
    delete_rabbit_entities,
    delete_redis_keys,
)
from conveyor.runtime.transport.mode import TransportMode

__all__ = [
    "AMQP_URL",
    "REDIS_URL",
    "TRANSPORT",
    "base_environ",
    "delete_rabbit_entities",
    "delete_redis_keys",
    "new_namespace",
]

TRANSPORT: TransportMode = "plain" if os.environ.get("CONVEYOR_TRANSPORT") == "plain" else "fast"
"""The transport mode of the run's brokers and service processes (``CONVEYOR_TRANSPORT``;
.ci/run runs part of the suite in ``plain`` mode)."""


def new_namespace() -> str:
    return _shared.new_namespace("test")


def base_environ(namespace: str, **extra: str) -> dict[str, str]:
    """Environment for a service process of the test run, in the run's transport mode."""
    return _shared.base_environ(namespace, **with_run_transport(extra))


def with_run_transport(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the run's ``CONVEYOR_TRANSPORT`` unless it names one itself."""
    return {"CONVEYOR_TRANSPORT": TRANSPORT, **env}
