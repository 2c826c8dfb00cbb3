"""The health-check job: RabbitMQ, Redis, worker heartbeats, queue backlogs and free disk."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from conveyor.contracts.events import HealthCheck, SystemHealthReported
from conveyor.contracts.jobs import CheckSystemHealthRequest, MaintenanceReport
from conveyor.contracts.keys import Keys
from conveyor.contracts.topology import SERVICE_BINDINGS
from conveyor.maintenance.domain_events import publish_domain_event
from conveyor.maintenance.settings import MaintenanceSettings
from conveyor.runtime.broker import Broker
from conveyor.runtime.worker import JobContext

log = logging.getLogger(__name__)

FORGET_WORKERS_AFTER = 86_400
"""Seconds after which a vanished worker is dropped from the index instead of reported."""


async def check_redis(redis: Redis) -> HealthCheck:
    started = time.perf_counter()
    try:
        await redis.ping()
    except Exception as exc:
        return HealthCheck(name="redis", ok=False, detail=str(exc))
    return HealthCheck(
        name="redis", ok=True, detail=f"ping {1000 * (time.perf_counter() - started):.1f} ms"
    )


async def check_queues(broker: Broker, max_backlog: int) -> list[HealthCheck]:
    """RabbitMQ answers, and each job queue's ready messages (and the dead letters) are shown."""
    if not broker.is_available:
        return [HealthCheck(name="rabbitmq", ok=False, detail="not connected")]
    topology = broker.topology
    queues = [name for s in SERVICE_BINDINGS for name, _ in topology.job_queues(s)]
    queues.append(topology.dead_letter_queue)
    checks = []
    try:
        channel = await broker.open_channel()
        try:
            depths = {}
            for name in queues:
                # Declared by every publisher, so a passive declare finds them.
                queue = await channel.declare_queue(name, passive=True)
                depths[name] = queue.declaration_result.message_count or 0
        finally:
            await channel.close()
    except Exception as exc:
        return [HealthCheck(name="rabbitmq", ok=False, detail=f"{type(exc).__name__}: {exc}")]
    checks.append(HealthCheck(name="rabbitmq", ok=True, detail="connected"))
    for name, depth in depths.items():
        if name == topology.dead_letter_queue:
            checks.append(
                HealthCheck(name="dead_letters", ok=depth == 0, detail=f"{depth} messages")
            )
        else:
            ok = depth <= max_backlog
            checks.append(
                HealthCheck(
                    name=f"backlog:{name}", ok=ok, detail=f"{depth} ready (limit {max_backlog})"
                )
            )
    return checks


async def check_workers(redis: Redis, keys: Keys) -> HealthCheck:
    """Live workers have a heartbeat key; one in the index without a key stopped beating."""
    now = time.time()
    await redis.zremrangebyscore(keys.workers, "-inf", now - FORGET_WORKERS_AFTER)
    members: Any = await redis.zrange(keys.workers, 0, -1)
    instances = [m.decode() for m in members]
    if instances:
        async with redis.pipeline(transaction=False) as pipe:
            for instance in instances:
                pipe.exists(keys.worker(instance))
            alive = await pipe.execute()
    else:
        alive = []
    live = [i for i, a in zip(instances, alive, strict=True) if a]
    silent = [i for i, a in zip(instances, alive, strict=True) if not a]
    detail = f"{len(live)} live"
    if silent:
        detail += f"; no heartbeat from {', '.join(sorted(silent)[:10])}"
    return HealthCheck(name="workers", ok=bool(live) and not silent, detail=detail)


async def check_disk(path: Path, min_free_mb: int) -> HealthCheck:
    try:
        usage = await asyncio.to_thread(lambda: shutil.disk_usage(path if path.exists() else "."))
    except OSError as exc:
        return HealthCheck(name="disk", ok=False, detail=str(exc))
    free_mb = usage.free // 1_048_576
    return HealthCheck(
        name="disk", ok=free_mb >= min_free_mb, detail=f"{free_mb} MB free (minimum {min_free_mb})"
    )


async def check_system_health(
    request: CheckSystemHealthRequest,
    *,
    job: JobContext,
    redis: Redis,
    keys: Keys,
    broker: Broker,
    settings: MaintenanceSettings,
) -> MaintenanceReport:
    """Run every check, emit ``system.health`` with them, and report the failures."""
    checks = [await check_redis(redis)]
    if checks[0].ok:
        checks.append(await check_workers(redis, keys))
    checks += await check_queues(broker, settings.health_max_backlog)
    checks.append(await check_disk(settings.data_dir, settings.health_min_free_disk_mb))
    ok = all(c.ok for c in checks)
    await publish_domain_event(broker, SystemHealthReported(ok=ok, checks=checks))
    failing = [c for c in checks if not c.ok]
    if failing:
        log.warning("system health: %s", "; ".join(f"{c.name}: {c.detail}" for c in failing))
    job.report_progress(len(checks), len(checks), "checked")
    return MaintenanceReport(
        counts={"checks": len(checks), "failing": len(failing)},
        examples={"failing": [f"{c.name}: {c.detail}" for c in failing]} if failing else {},
        details={c.name: ("ok: " if c.ok else "FAILING: ") + c.detail for c in checks},
    )
