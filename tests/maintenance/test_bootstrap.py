"""The maintenance service's ``bootstrap``: from its settings and the shared resources to a handler
table whose handlers get every dependency they name (checked as each is added)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from conveyor.maintenance.bootstrap import bootstrap
from conveyor.maintenance.settings import MaintenanceSettings
from conveyor.runtime.resources import open_resources
from conveyor.runtime.settings import load_settings
from tests.support.namespace import AMQP_URL, REDIS_URL


async def test_bootstrap_wires_a_handler_for_each_job_type_of_the_service(
    module_namespace: str, tmp_path: Path
) -> None:
    settings = load_settings(
        MaintenanceSettings,
        {},
        namespace=module_namespace,
        amqp_url=AMQP_URL,
        redis_url=REDIS_URL,
        data_dir=tmp_path,
        scheduler_enabled=False,  # the scheduler has tests of its own
    )
    async with contextlib.AsyncExitStack() as stack:
        resources = await open_resources(settings, stack, service="tests")
        table = await bootstrap(settings, resources, stack)
    assert table.job_types == [
        "diagnostics",
        "maintenance.check_system_health",
        "maintenance.cleanup_exports",
        "maintenance.compute_daily_statistics",
        "maintenance.purge_expired_jobs",
        "maintenance.validate_dataset",
    ]
