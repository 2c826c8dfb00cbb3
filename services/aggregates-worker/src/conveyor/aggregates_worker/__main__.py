"""Run the aggregates worker: ``python -m conveyor.aggregates_worker``."""

from conveyor.aggregates_worker.allocator import configure_allocator

configure_allocator()  # read when polars is first imported: before anything imports it

from conveyor.aggregates_worker.bootstrap import build_handlers  # noqa: E402
from conveyor.runtime.worker.service import main  # noqa: E402

if __name__ == "__main__":
    main("aggregates", build_handlers)
