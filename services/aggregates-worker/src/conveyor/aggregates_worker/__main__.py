"""Run the aggregates worker: ``python -m conveyor.aggregates_worker``."""

import os

# polars' allocator (jemalloc) keeps freed pages for a while by default; loading the table
# frees file-sized buffers one after another, which left ~600 MB of dead pages in RSS for
# 10M awards. Returning them at once keeps the worker at about the table's size. Read when
# polars is first imported, so it is set before anything imports it (an operator's own
# setting wins).
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")

from conveyor.aggregates_worker.handlers import build_handlers
from conveyor.runtime.worker.service import main

if __name__ == "__main__":
    main("aggregates", build_handlers)
