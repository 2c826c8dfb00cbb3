"""The export worker's settings: the worker's own plus how exports are written and kept."""

from __future__ import annotations

from typing import Annotated

import msgspec

from conveyor.export_worker.xlsx import MAX_DATA_ROWS_PER_SHEET
from conveyor.runtime.settings import WorkerSettings


class ExportSettings(WorkerSettings, kw_only=True, frozen=True):
    """``WorkerSettings`` plus the export knobs (``CONVEYOR_XLSX_MAX_ROWS_PER_SHEET``, ...)."""

    xlsx_max_rows_per_sheet: Annotated[int, msgspec.Meta(ge=1, le=MAX_DATA_ROWS_PER_SHEET)] = (
        MAX_DATA_ROWS_PER_SHEET
    )
    """Data rows per xlsx sheet before the export continues on a new one (Excel's maximum)."""
    export_chunk_rows: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 50_000
    """Rows read, written and reported per step; cancellation is noticed between steps."""
    export_ttl_hours: Annotated[float, msgspec.Meta(gt=0)] = 24.0
    """Hours an export can be downloaded before it expires."""
    export_max_rows: Annotated[int, msgspec.Meta(ge=1)] = 10_000_000
    """Rows one export may hold; a job whose filters match more fails before writing."""
    export_quota_bytes: Annotated[int, msgspec.Meta(ge=1)] = 5 * 1024**3
    """Bytes of unexpired exports one owner may keep; an export past it fails (nothing evicted)."""
    csv_neutralise_formulas: bool = True
    """CSV: prefix text cells starting with = + - @ tab or CR with ' (spreadsheets run them)."""
