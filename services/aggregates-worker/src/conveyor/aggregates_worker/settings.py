"""The aggregates worker's settings: the worker's own plus the result cache's."""

from __future__ import annotations

from typing import Annotated

import msgspec

from conveyor.runtime.settings import WorkerSettings


class AggregatesSettings(WorkerSettings, kw_only=True, frozen=True):
    """``WorkerSettings`` plus the result cache knobs (``CONVEYOR_RESULT_TTL_SECONDS``, ...)."""

    result_ttl_seconds: Annotated[int, msgspec.Meta(ge=1)] = 86_400
    """Seconds an aggregates or search result stays cached (and readable through the API)."""
    warm_on_start: bool = True
    """Load the dataset and compute the unfiltered aggregate set when the worker starts."""
