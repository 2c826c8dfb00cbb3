"""``conveyor dev``: the gateway and the workers together on this machine, like a Procfile."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import aiohttp
from redis.asyncio import Redis

from conveyor.awards.generator import generate
from conveyor.awards.schema import DATASET_DIR, dataset_files
from conveyor.cli._processes import ChildSpec, Printer, ProcessGroup
from conveyor.cli._supervision import Backoff, supervise
from conveyor.runtime.redis_client import open_redis
from conveyor.runtime.settings import (
    GatewaySettings,
    SettingsError,
    WorkerSettings,
    load_settings,
)
from conveyor.runtime.transport.redis_sentinel import SentinelConfig, sentinel_config

GATEWAY = ("gateway", "conveyor.gateway")
WORKERS = (
    ("maintenance", "conveyor.maintenance"),
    ("export-worker", "conveyor.export_worker"),
    ("aggregates-worker", "conveyor.aggregates_worker"),
)
HEALTH_PATH = "/api/v1/health"
READY_LINE = "Conveyor is up: {url}"
_CHECK_TIMEOUT = 5.0
_SLOW_START = 60.0
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_REPEAT_WINDOW = 1.0
DEMO_ROWS = 1_000_000
"""Size of the demo dataset: enough to feel real, generated in a few seconds."""
DEV_METRICS_PORT = 9101
"""The first worker's metrics port; the others follow in ``WORKERS`` order (the ports
deploy/prometheus/prometheus-dev.yml scrapes)."""
_KILL_MARGIN = 5.0
"""Seconds beyond the workers' ``shutdown_grace`` before stragglers are killed."""

_START_RABBITMQ = """
    start it:  rabbitmq-server -detached   (then wait for `rabbitmq-diagnostics -q ping`)
    or:        docker compose up -d rabbitmq
    or point CONVEYOR_AMQP_URL at a running broker"""
_START_REDIS = """
    start it:  mkdir -p var/redis && redis-server --daemonize yes --bind 127.0.0.1 -::1 \\
                 --port 6379 --appendonly yes --dir "$PWD/var/redis"
    or:        docker compose up -d redis
    or point CONVEYOR_REDIS_URL at a running server"""


def _ensure_demo_dataset(directory: Path, rows: int) -> None:
    """Generate a demo awards dataset on first start, so every job type has data to use."""
    if directory.is_dir() and dataset_files(directory):
        return
    print(f"conveyor dev: no awards dataset in {directory}; generating {rows:,} demo awards")
    report = generate(rows, directory, seed=0)
    print(
        f"conveyor dev: {report.rows:,} awards in {report.files} file(s), "
        f"{report.seconds:.1f} s (version {report.version})"
    )


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port between 1 and 65535")
    return value


def _port_or_off(text: str) -> int:
    return 0 if text.strip() == "0" else _port(text)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not at least 1")
    return value


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "dev",
        help="run the gateway and all workers locally",
        description=(
            "Run the gateway, maintenance, export-worker and aggregates-worker as child "
            "processes with prefixed output, after checking that RabbitMQ and Redis answer. "
            "Ctrl-C stops them all."
        ),
    )
    parser.add_argument(
        "--port", type=_port, metavar="P", help="gateway HTTP port (default: CONVEYOR_HTTP_PORT)"
    )
    parser.add_argument(
        "--concurrency",
        type=_positive,
        metavar="N",
        help="jobs each worker runs at once (default: CONVEYOR_CONCURRENCY)",
    )
    parser.add_argument(
        "--no-workers", action="store_true", help="run only the gateway, without the workers"
    )
    parser.add_argument(
        "--metrics-port",
        type=_port_or_off,
        default=DEV_METRICS_PORT,
        metavar="P",
        help="serve the first worker's /metrics on P, the next ones on P+1, P+2 "
        f"(default {DEV_METRICS_PORT}; 0: off)",
    )
    parser.add_argument(
        "--demo-rows",
        type=int,
        default=DEMO_ROWS,
        metavar="N",
        help="awards to generate as a demo dataset when the data directory has none "
        f"(default {DEMO_ROWS:,}; 0: none)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.port is not None:
        env["CONVEYOR_HTTP_PORT"] = str(args.port)
    # Children write to our pipes, not a terminal: ask for line-by-line output and for text
    # logs (their "auto" format would pick JSON), unless the user chose otherwise.
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("CONVEYOR_LOG_FORMAT", "text")
    # Zero-config on a developer machine: the services accept the development JWT secret.
    env.setdefault("CONVEYOR_ENV", "development")
    try:
        gateway = load_settings(GatewaySettings, env)
        worker = load_settings(WorkerSettings, env)
    except SettingsError as exc:
        print(f"conveyor dev: {exc}", file=sys.stderr)
        return 2
    if gateway.http_port == 0:
        print("conveyor dev: CONVEYOR_HTTP_PORT is 0; give a port with --port", file=sys.stderr)
        return 2

    services = [GATEWAY, *([] if args.no_workers else WORKERS)]
    problems = [p for p in (_missing_module(m) for _, m in services) if p]
    problems += asyncio.run(
        _unreachable(worker.amqp_url, worker.redis_url, sentinel_config(worker))
    )
    problems += [p for p in [_port_taken(gateway.http_host, gateway.http_port)] if p]
    metrics_ports = {} if args.no_workers else worker_metrics_ports(args.metrics_port)
    problems += [
        p
        for name, port in metrics_ports.items()
        if (p := _port_taken("0.0.0.0", port, f"{name}'s metrics", "--metrics-port"))
    ]
    if problems:
        for problem in problems:
            print(f"conveyor dev: {problem}", file=sys.stderr)
        return 1

    if args.demo_rows > 0:
        _ensure_demo_dataset(worker.data_dir / DATASET_DIR, args.demo_rows)

    children = []
    for name, module in services:
        child_env = dict(env)
        if (name, module) in WORKERS:
            # Never an inherited CONVEYOR_METRICS_PORT: the workers would all want that port.
            child_env["CONVEYOR_METRICS_PORT"] = str(metrics_ports.get(name, 0))
            if args.concurrency is not None:
                child_env["CONVEYOR_CONCURRENCY"] = str(args.concurrency)
        children.append(ChildSpec(name, [sys.executable, "-m", module], child_env))
    url = f"http://{_client_host(gateway.http_host)}:{gateway.http_port}"
    grace = worker.shutdown_grace + _KILL_MARGIN
    return asyncio.run(_run_children(children, url, grace))


async def _run_children(children: list[ChildSpec], url: str, grace: float) -> int:
    printer = Printer([c.name for c in children])
    group = ProcessGroup(printer, grace=grace)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    first_signal_at = 0.0

    def on_signal(signum: signal.Signals) -> None:
        nonlocal first_signal_at
        if not stop.is_set():
            first_signal_at = time.monotonic()
            printer.system(f"{signum.name} received: stopping (again to kill at once)")
            stop.set()
        # The same Ctrl-C can arrive twice (from the terminal and forwarded by `uv run`):
        # only a signal well after the first one means "kill now".
        elif time.monotonic() - first_signal_at > _REPEAT_WINDOW:
            printer.system(f"{signum.name} again: killing everything now")
            group.kill()

    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    crashed: str | None = None
    try:
        for child in children:
            await group.start(child)
        printer.system(f"started {', '.join(c.name for c in children)} (pids {group.pids})")
        announce = asyncio.create_task(_announce_when_healthy(url, printer))
        crashed = await supervise(group, printer, stop, Backoff())
        announce.cancel()
    finally:
        # Also on errors (a child that cannot be started): never leave the others running.
        await group.stop()
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)
    if crashed:
        print(f"conveyor dev: {crashed} cannot start (a configuration error)", file=sys.stderr)
        return 1
    return 0


async def _announce_when_healthy(url: str, printer: Printer) -> None:
    """Poll the gateway's health endpoint; print the ready line once it answers 200."""
    started = time.monotonic()
    warned = False
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.get(url + HEALTH_PATH) as response:
                    if response.status == 200:
                        printer.system(READY_LINE.format(url=url))
                        return
            if not warned and time.monotonic() - started > _SLOW_START:
                printer.system(f"the gateway has not answered {HEALTH_PATH} yet; still waiting")
                warned = True
            await asyncio.sleep(0.2)


async def _unreachable(
    amqp_url: str, redis_url: str, sentinel: SentinelConfig | None = None
) -> list[str]:
    """A sentence per backing service that does not answer, with how to start it."""
    rabbit, redis = await asyncio.gather(_ping_rabbitmq(amqp_url), _ping_redis(redis_url, sentinel))
    problems = []
    if rabbit:
        problems.append(f"RabbitMQ is down at {_redact(amqp_url)} ({rabbit}).{_START_RABBITMQ}")
    if redis and sentinel is not None:
        where = f"the master {sentinel.master_name!r} of Sentinels {','.join(sentinel.sentinels)}"
        problems.append(f"Redis does not answer as {where} ({redis}).")
    elif redis:
        problems.append(f"Redis is down at {_redact(redis_url)} ({redis}).{_START_REDIS}")
    return problems


async def _ping_rabbitmq(url: str) -> str | None:
    # aiormq logs a failed connect as an error before raising it; we report it ourselves.
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    try:
        connection = await asyncio.wait_for(aio_pika.connect(url), _CHECK_TIMEOUT)
    except Exception as exc:
        return _reason(exc)
    await connection.close()
    return None


async def _ping_redis(url: str, sentinel: SentinelConfig | None = None) -> str | None:
    client = (
        open_redis(url, sentinel)
        if sentinel is not None
        else Redis.from_url(
            url, socket_connect_timeout=_CHECK_TIMEOUT, socket_timeout=_CHECK_TIMEOUT
        )
    )
    try:
        await asyncio.wait_for(client.ping(), _CHECK_TIMEOUT)
    except Exception as exc:
        return _reason(exc)
    finally:
        await client.aclose()
    return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return f"no answer within {_CHECK_TIMEOUT:g} s"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _missing_module(module: str) -> str | None:
    if importlib.util.find_spec(f"{module}.__main__") is not None:
        return None
    return f"{module} has no __main__ module to run (is it installed? try `uv sync`)"


def worker_metrics_ports(first: int) -> dict[str, int]:
    """Each worker's metrics port under ``conveyor dev`` (none when ``first`` is 0): one port
    each, since they share this machine's network."""
    if first == 0:
        return {}
    return {name: first + i for i, (name, _) in enumerate(WORKERS)}


def _port_taken(
    host: str, port: int, what: str = "the gateway", option: str = "--port"
) -> str | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # The same option the gateway's server sets, so a port in TIME_WAIT is not "taken".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"cannot use {host}:{port} for {what} ({exc.strerror}); pick another {option}"
    return None


def _client_host(bind_host: str) -> str:
    return "127.0.0.1" if bind_host in ("", "0.0.0.0", "::") else bind_host


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
