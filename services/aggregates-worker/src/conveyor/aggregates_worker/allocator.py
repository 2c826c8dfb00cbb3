"""polars' allocator (jemalloc) set up for this service: freed pages go back at once.

Loading the table frees file-sized buffers one after another; with polars' defaults their
pages stayed resident for a while (~600 MB for 10M awards, on top of the table).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

VARIABLE = "_RJEM_MALLOC_CONF"
RETURN_AT_ONCE = "dirty_decay_ms:0,muzzy_decay_ms:0"


def configure_allocator(environ: MutableMapping[str, str] = os.environ) -> None:
    """Make jemalloc return freed pages at once; call before anything imports polars.

    Appended to the variable, not set by default: importing polars writes its own defaults
    into it, so a parent process that used polars (``conveyor dev``, tests, benchmarks)
    hands them down, and jemalloc takes the last value of an option. Other options an
    operator sets there still apply.
    """
    environ[VARIABLE] = ",".join(filter(None, [environ.get(VARIABLE), RETURN_AT_ONCE]))
