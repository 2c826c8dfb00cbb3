"""Run the export worker: ``python -m conveyor.export_worker``."""

from conveyor.export_worker.bootstrap import build_handlers
from conveyor.runtime.worker.service import main

if __name__ == "__main__":
    main("export", build_handlers)
