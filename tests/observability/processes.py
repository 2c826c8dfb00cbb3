"""Stopping the service processes the observability tests start."""

from __future__ import annotations

from tests.support.services import ServiceProcess


async def stop(service: ServiceProcess) -> str:
    """SIGTERM the service, check it exits cleanly, and return its output."""
    service.terminate()
    code = await service.wait(20)
    assert code == 0, service.output()
    return service.output()
