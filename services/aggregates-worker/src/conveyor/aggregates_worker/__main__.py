"""Run the aggregates worker: ``python -m conveyor.aggregates_worker``."""

from conveyor.aggregates_worker.handlers import build_handlers
from conveyor.runtime.worker.service import main

if __name__ == "__main__":
    main("aggregates", build_handlers)
