"""Wiring the export service from its settings and resources: the handler table and what its
handler depends on (where exports go, the per-user quota)."""

from __future__ import annotations

import contextlib

from conveyor.export_worker.handlers import ExportConfig, export_awards
from conveyor.export_worker.quota import ExportQuota
from conveyor.export_worker.settings import ExportSettings
from conveyor.runtime.limits import LimitStore
from conveyor.runtime.resources import Resources
from conveyor.runtime.settings import load_settings
from conveyor.runtime.worker import Handler, HandlerTable


async def bootstrap(
    settings: ExportSettings, resources: Resources, stack: contextlib.AsyncExitStack
) -> HandlerTable:
    exports = ExportConfig.from_settings(settings)
    limits = LimitStore(
        resources.redis,
        resources.keys,
        resources.store,
        retention_seconds=settings.retention_seconds,
    )
    quota = ExportQuota(limits, quota_bytes=settings.export_quota_bytes, ttl=exports.ttl)
    table = HandlerTable({"exports": exports, "quota": quota})
    table.add(Handler("export", export_awards))
    return table


async def build_handlers(resources: Resources, stack: contextlib.AsyncExitStack) -> HandlerTable:
    """The worker runner's hook: this service's settings (from the environment), then wiring."""
    return await bootstrap(load_settings(ExportSettings), resources, stack)
