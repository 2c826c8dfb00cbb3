"""Wiring the maintenance service from its settings and resources: the handler table (job
type -> handler, each given only the dependencies it names), the scheduler and the gauge."""

from __future__ import annotations

import contextlib

from conveyor.maintenance.cleanup_exports import cleanup_exports
from conveyor.maintenance.daily_statistics import compute_daily_statistics
from conveyor.maintenance.diagnostics import run_diagnostics
from conveyor.maintenance.purge_jobs import purge_expired_jobs
from conveyor.maintenance.scheduler import Scheduler
from conveyor.maintenance.settings import MaintenanceSettings
from conveyor.maintenance.system_health import check_system_health
from conveyor.maintenance.validate_dataset import validate_dataset
from conveyor.runtime.monitoring.worker_gauge import WorkerGauge
from conveyor.runtime.resources import Resources
from conveyor.runtime.settings import load_settings
from conveyor.runtime.statistics_store import StatisticsStore
from conveyor.runtime.worker import Handler, HandlerTable


async def bootstrap(
    settings: MaintenanceSettings, resources: Resources, stack: contextlib.AsyncExitStack
) -> HandlerTable:
    """The handlers; also starts the scheduler (unless disabled) and, when metrics are served,
    the ``conveyor_workers`` gauge; ``stack`` stops them."""
    table = HandlerTable(
        {
            "settings": settings,
            "store": resources.store,
            "redis": resources.redis,
            "keys": resources.keys,
            "broker": resources.broker,
            "statistics": StatisticsStore(resources.redis, resources.keys),
        }
    )
    table.add(Handler("diagnostics", run_diagnostics))
    table.add(Handler("maintenance.cleanup_exports", cleanup_exports))
    table.add(Handler("maintenance.validate_dataset", validate_dataset))
    table.add(Handler("maintenance.compute_daily_statistics", compute_daily_statistics))
    table.add(Handler("maintenance.check_system_health", check_system_health))
    table.add(Handler("maintenance.purge_expired_jobs", purge_expired_jobs))
    if settings.scheduler_enabled:
        scheduler = Scheduler(resources, settings)
        await scheduler.start()
        stack.push_async_callback(scheduler.stop)
    if settings.metrics_port:
        # Maintenance is the one service that watches the others' heartbeats anyway.
        gauge = WorkerGauge(
            resources.redis, resources.keys, resources.metrics, interval=settings.heartbeat_interval
        )
        gauge.start()
        stack.push_async_callback(gauge.stop)
    return table


async def build_handlers(resources: Resources, stack: contextlib.AsyncExitStack) -> HandlerTable:
    """The worker runner's hook: this service's settings (from the environment), then wiring."""
    return await bootstrap(load_settings(MaintenanceSettings), resources, stack)
