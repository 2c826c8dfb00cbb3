"""Run the maintenance service: ``python -m conveyor.maintenance``."""

from conveyor.maintenance.bootstrap import build_handlers
from conveyor.runtime.worker.service import main

if __name__ == "__main__":
    main("maintenance", build_handlers)
