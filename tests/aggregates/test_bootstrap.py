"""The aggregates service's ``bootstrap``: from its settings and the shared resources to a handler
table whose handlers get every dependency they name (checked as each is added)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from conveyor.aggregates_worker.bootstrap import bootstrap
from conveyor.aggregates_worker.settings import AggregatesSettings
from conveyor.runtime.resources import open_resources
from conveyor.runtime.settings import load_settings
from tests.support.namespace import AMQP_URL, REDIS_URL


async def test_bootstrap_wires_a_handler_for_each_job_type_of_the_service(
    module_namespace: str, tmp_path: Path
) -> None:
    settings = load_settings(
        AggregatesSettings,
        {},
        namespace=module_namespace,
        amqp_url=AMQP_URL,
        redis_url=REDIS_URL,
        data_dir=tmp_path,
        warm_on_start=False,
    )
    async with contextlib.AsyncExitStack() as stack:
        resources = await open_resources(settings, stack, service="tests")
        table = await bootstrap(settings, resources, stack)
    assert table.job_types == ["aggregates", "search"]
