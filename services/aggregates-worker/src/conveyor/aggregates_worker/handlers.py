"""The aggregates service's handler table (its handlers arrive with the aggregates issue)."""

from __future__ import annotations

import contextlib

from conveyor.runtime.resources import Resources
from conveyor.runtime.worker import HandlerTable


async def build_handlers(resources: Resources, stack: contextlib.AsyncExitStack) -> HandlerTable:
    return HandlerTable({"resources": resources})
