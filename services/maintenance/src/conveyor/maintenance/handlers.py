"""The maintenance service's handler table: job type -> handler."""

from __future__ import annotations

import contextlib

from conveyor.maintenance.diagnostics import run_diagnostics
from conveyor.runtime.resources import Resources
from conveyor.runtime.worker import Handler, HandlerTable


async def build_handlers(resources: Resources, stack: contextlib.AsyncExitStack) -> HandlerTable:
    table = HandlerTable({"resources": resources})
    table.add(Handler("diagnostics", run_diagnostics))
    return table
