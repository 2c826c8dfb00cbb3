"""Running a worker service: settings, resources, the harness, signals and a clean exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping

from conveyor.runtime.heap import freeze_startup_heap
from conveyor.runtime.logs import setup_logging
from conveyor.runtime.metrics_server import serve_metrics
from conveyor.runtime.resources import Resources, open_resources
from conveyor.runtime.settings import SettingsError, WorkerSettings, load_settings
from conveyor.runtime.telemetry import setup_tracing, shutdown_tracing
from conveyor.runtime.worker.handlers import HandlerTable
from conveyor.runtime.worker.harness import Worker
from conveyor.runtime.worker.publishers import PublisherPolicy

log = logging.getLogger(__name__)

BuildHandlers = Callable[[Resources, contextlib.AsyncExitStack], Awaitable[HandlerTable]]
"""Builds a service's handler table (and opens what its handlers need on the stack)."""


async def run_worker_service(
    service: str,
    build_handlers: BuildHandlers,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run until SIGTERM/SIGINT, then drain. Returns the process exit code."""
    try:
        settings = load_settings(WorkerSettings, os.environ if environ is None else environ)
        PublisherPolicy.parse(settings.publisher_owners)  # a bad mapping fails before connecting
    except SettingsError as exc:
        print(f"conveyor {service}: {exc}", file=sys.stderr)
        return 2
    setup_logging(service, settings.instance, level=settings.log_level, fmt=settings.log_format)
    setup_tracing(service, settings.instance)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with contextlib.AsyncExitStack() as stack:
            resources = await open_resources(settings, stack, service=service)
            try:
                handlers = await build_handlers(resources, stack)
            except SettingsError as exc:  # a service's own settings, read while wiring
                print(f"conveyor {service}: {exc}", file=sys.stderr)
                return 2
            worker = Worker(
                service=service,
                settings=settings,
                broker=resources.broker,
                store=resources.store,
                lifecycle=resources.lifecycle,
                handlers=handlers,
                metrics=resources.metrics,
            )
            worker.on_drain_requested = stop.set  # a DrainWorker command stops us cleanly
            if settings.metrics_port:
                await serve_metrics(resources.metrics, settings.metrics_port, stack)
            await worker.start()
            freeze_startup_heap()
            await stop.wait()
            log.info("stopping: draining running jobs")
            await worker.drain()
    finally:
        shutdown_tracing()
    log.info("%s stopped", service)
    return 0


def main(service: str, build_handlers: BuildHandlers) -> None:
    """Entry point body of a worker's ``__main__``."""
    import uvloop

    sys.exit(uvloop.run(run_worker_service(service, build_handlers)))
