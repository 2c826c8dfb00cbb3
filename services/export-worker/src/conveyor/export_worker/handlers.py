"""The export service's handlers: the awards export, and the table mapping job types to them."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from conveyor.awards.schema import DATASET_DIR
from conveyor.contracts.errors import ErrorCode
from conveyor.contracts.jobs import ExportRequest, FileResult, utcnow
from conveyor.export_worker.errors import (
    DatasetMissingError,
    ExportCancelledError,
    ExportTooLargeError,
)
from conveyor.export_worker.export import (
    MEDIA_TYPES,
    ExportQuery,
    Written,
    build_query,
    write_export,
)
from conveyor.export_worker.quota import ExportQuota
from conveyor.export_worker.settings import ExportSettings
from conveyor.export_worker.xlsx import MAX_DATA_ROWS_PER_SHEET
from conveyor.runtime.worker import JobContext, RejectJob

log = logging.getLogger(__name__)

"""The awards dataset, under the data directory."""
EXPORTS_DIR = "exports"
"""Finished exports (``<job id>.<format>``), under the data directory."""


@dataclass(frozen=True, slots=True)
class ExportConfig:
    """Where exports read and write, and how (the ``exports`` dependency of the handler)."""

    data_dir: Path
    chunk_rows: int = 50_000
    max_rows_per_sheet: int = MAX_DATA_ROWS_PER_SHEET
    ttl: dt.timedelta = dt.timedelta(hours=24)
    max_rows: int | None = None
    neutralise_formulas: bool = True
    fast_deflate: bool = True
    """``Settings.transport == "fast"``: xlsx sheets deflated by ISA-L (``zipfile_bridge``)."""

    @classmethod
    def from_settings(cls, settings: ExportSettings) -> ExportConfig:
        return cls(
            data_dir=settings.data_dir,
            chunk_rows=settings.export_chunk_rows,
            max_rows_per_sheet=settings.xlsx_max_rows_per_sheet,
            ttl=dt.timedelta(hours=settings.export_ttl_hours),
            max_rows=settings.export_max_rows,
            neutralise_formulas=settings.csv_neutralise_formulas,
            fast_deflate=settings.transport == "fast",
        )

    @property
    def dataset_dir(self) -> Path:
        return self.data_dir / DATASET_DIR


async def export_awards(
    request: ExportRequest, *, job: JobContext, exports: ExportConfig, quota: ExportQuota
) -> FileResult:
    """Write the filtered awards to ``exports/<job id>.<format>`` under the data directory."""
    await quota.ensure_room(job.owner)
    try:
        with job.phase("query"):
            query = build_query(exports.dataset_dir, request.filters, request.columns, request.sort)
    except DatasetMissingError as exc:
        raise RejectJob(str(exc)) from exc
    relative = Path(EXPORTS_DIR) / f"{job.job_id}.{request.format}"
    final = exports.data_dir / relative
    final.parent.mkdir(parents=True, exist_ok=True)

    with job.phase("write"):
        try:
            written = await _write_in_thread(query, request, final, job, exports)
        except ExportTooLargeError as exc:
            raise RejectJob(str(exc), code=ErrorCode.EXPORT_TOO_LARGE) from exc
    await quota.keep(job.owner, job.job_id, written)
    log.info(
        "exported %d rows to %s in %.2f s (%d bytes)",
        written.rows,
        relative,
        written.seconds,
        written.size_bytes,
    )
    if written.truncated_cells:
        log.warning("%s: %d text cells cut at Excel's limit", relative, written.truncated_cells)
    finished = utcnow()
    return FileResult(
        filename=f"awards-{finished:%Y%m%d-%H%M%S}.{request.format}",
        path=relative.as_posix(),
        media_type=MEDIA_TYPES[request.format],
        size_bytes=written.size_bytes,
        rows=written.rows,
        expires_at=finished + exports.ttl,
        truncated_cells=written.truncated_cells,
    )


async def _write_in_thread(
    query: ExportQuery, request: ExportRequest, final: Path, job: JobContext, exports: ExportConfig
) -> Written:
    """Run the export's writer in a thread; a cancel stops it at its next chunk."""

    def progress(done: int, total: int) -> None:
        job.report_progress_threadsafe(done, total, f"{done:,} of {total:,} rows")

    work = asyncio.ensure_future(
        asyncio.to_thread(
            write_export,
            query,
            request.format,
            final,
            cancelled=job.cancel_requested,
            progress=progress,
            chunk_rows=exports.chunk_rows,
            max_rows_per_sheet=exports.max_rows_per_sheet,
            max_rows=exports.max_rows,
            neutralise_formulas=exports.neutralise_formulas,
            fast_deflate=exports.fast_deflate,
        )
    )
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        # A thread cannot be cancelled: tell it to stop at its next chunk and wait for it, so
        # the job is recorded as cancelled only once its temporary file is gone.
        job.cancel_requested.set()
        await asyncio.wait([work])
        if not work.cancelled():
            work.exception()  # retrieved: it is the ExportCancelledError we asked for
        raise
    except ExportCancelledError:
        raise asyncio.CancelledError() from None
