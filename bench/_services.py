"""Gateway presets of the benchmarks; starting service processes is shared with the tests
(conveyor.dev_support.services)."""

from __future__ import annotations

import sys

from conveyor.dev_support.services import ServiceProcess, start_gateway


async def start_unlimited_gateway(
    namespace: str, secret: str, *, python: str = sys.executable, **env: str
) -> tuple[ServiceProcess, str]:
    """``start_gateway`` for a benchmark in which one user submits everything: the submit
    limits are still checked (their cost is part of the figures) but never refuse."""
    return await start_gateway(
        namespace,
        python=python,
        CONVEYOR_JWT_SECRET=secret,
        CONVEYOR_LOG_LEVEL="WARNING",
        CONVEYOR_SUBMIT_RATE="1000000",
        CONVEYOR_SUBMIT_BURST="1000000",
        CONVEYOR_MAX_JOBS_IN_FLIGHT="1000000",
        **env,
    )
