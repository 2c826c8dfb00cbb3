"""``python -m conveyor.gateway``: run the gateway until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from aiohttp import web

from conveyor.gateway.bootstrap import bootstrap
from conveyor.runtime.heap import freeze_startup_heap
from conveyor.runtime.logs import setup_logging
from conveyor.runtime.settings import (
    GatewaySettings,
    SettingsError,
    check_jwt_secret,
    load_settings,
)
from conveyor.runtime.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger("conveyor.gateway")

SHUTDOWN_TIMEOUT = 10.0


async def serve(settings: GatewaySettings, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set, then close connections and resources."""
    async with bootstrap(settings) as gateway:
        runner = web.AppRunner(gateway.app, shutdown_timeout=SHUTDOWN_TIMEOUT, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, settings.http_host, settings.http_port)
            await site.start()
            host, port = _bound_address(runner, settings)
            url = f"http://{host}:{port}"
            log.info("gateway listening", extra={"url": url})
            print(f"Conveyor gateway listening on {url}", flush=True)
            freeze_startup_heap()
            await stop.wait()
            log.info("gateway stopping")
        finally:
            await runner.cleanup()


def _bound_address(runner: web.AppRunner, settings: GatewaySettings) -> tuple[str, int]:
    # With http_port=0 the OS picks the port: report the one really bound.
    for address in runner.addresses:
        if isinstance(address, tuple):
            return settings.http_host, int(address[1])
    return settings.http_host, settings.http_port


async def main() -> int:
    try:
        settings = load_settings(GatewaySettings)
        check_jwt_secret(settings)
    except SettingsError as exc:
        print(f"conveyor gateway: {exc}", file=sys.stderr)
        return 2
    setup_logging("gateway", settings.instance, level=settings.log_level, fmt=settings.log_format)
    setup_tracing("gateway", settings.instance)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await serve(settings, stop)
    finally:
        shutdown_tracing()
    return 0


def run() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but stay runnable
        sys.exit(asyncio.run(main()))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        sys.exit(runner.run(main()))


if __name__ == "__main__":
    run()
