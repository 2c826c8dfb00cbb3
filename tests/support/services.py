"""Start real Conveyor service processes for a test, in the run's transport mode; the process
handling itself is shared with the benchmarks (conveyor.dev_support.services)."""

from __future__ import annotations

import contextlib

from redis.asyncio import Redis

from conveyor.dev_support import services as _shared
from conveyor.dev_support.services import ServiceProcess
from tests.support.namespace import with_run_transport

__all__ = ["ServiceProcess", "running_worker", "start_gateway", "start_worker"]


async def start_worker(module: str, namespace: str, redis: Redis, **env: str) -> ServiceProcess:
    """Start ``python -m <module>`` and return once its first heartbeat is in Redis."""
    return await _shared.start_worker(module, namespace, redis, **with_run_transport(env))


def running_worker(
    module: str, namespace: str, redis: Redis, **env: str
) -> contextlib.AbstractAsyncContextManager[ServiceProcess]:
    """A worker for the duration of a block; stopped with SIGTERM (SIGKILL if it hangs)."""
    return _shared.running_worker(module, namespace, redis, **with_run_transport(env))


async def start_gateway(namespace: str, **env: str) -> tuple[ServiceProcess, str]:
    """Start ``python -m conveyor.gateway`` on a free port; returns it and its base URL, once
    its health check passes."""
    return await _shared.start_gateway(namespace, **with_run_transport(env))
