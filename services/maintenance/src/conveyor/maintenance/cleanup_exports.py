"""The cleanup job: remove expired exports (file and job record) and orphaned export files."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from conveyor.contracts.jobs import CleanupExportsRequest, FileResult, MaintenanceReport, utcnow
from conveyor.contracts.records import JobRecord
from conveyor.maintenance.settings import MaintenanceSettings
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.worker import JobContext

log = logging.getLogger(__name__)

EXPORTS_DIR = "exports"
"""Finished exports (``<job id>.<format>``) and, while written, ``.<name>.tmp``, under data_dir."""
MAX_EXAMPLES = 10


@dataclass(frozen=True, slots=True)
class _File:
    path: Path
    size: int
    modified: dt.datetime

    @property
    def is_temporary(self) -> bool:
        return self.path.name.startswith(".") and self.path.name.endswith(".tmp")

    @property
    def job_id(self) -> str:
        return self.path.name.split(".", 1)[0]


def _list_files(directory: Path) -> list[_File]:
    if not directory.is_dir():
        return []
    files = []
    for entry in os.scandir(directory):
        if entry.is_file(follow_symlinks=False):
            st = entry.stat(follow_symlinks=False)
            files.append(
                _File(Path(entry.path), st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC))
            )
    return files


def _expires_at(record: JobRecord) -> dt.datetime | None:
    if record.expires_at is not None:
        return record.expires_at
    return record.result.expires_at if isinstance(record.result, FileResult) else None


async def cleanup_exports(
    request: CleanupExportsRequest,
    *,
    job: JobContext,
    store: JobStore,
    settings: MaintenanceSettings,
) -> MaintenanceReport:
    """Delete each export whose download expired, with its job record.

    A file no job record claims (its record is gone) and a ``.tmp`` file (an export that
    crashed while writing) are removed once older than ``export_tmp_grace_hours``: younger
    ones may belong to an export being written right now.
    """
    now = utcnow()
    orphaned_before = now - dt.timedelta(hours=settings.export_tmp_grace_hours)
    files = await asyncio.to_thread(_list_files, settings.data_dir / EXPORTS_DIR)
    finished = [f for f in files if not f.is_temporary]
    records = {r.job_id: r for r in await store.get_many([f.job_id for f in finished])}
    doomed: list[_File] = []
    expired_jobs: list[tuple[str, str]] = []
    counts = dict.fromkeys(("expired_files", "orphaned_files", "temporary_files", "kept_files"), 0)
    examples: dict[str, list[str]] = {}

    def note(kind: str, example: str) -> None:
        counts[kind] += 1
        if len(examples.setdefault(kind, [])) < MAX_EXAMPLES:
            examples[kind].append(example)

    for file in files:
        if file.is_temporary or (record := records.get(file.job_id)) is None:
            if file.modified < orphaned_before:
                doomed.append(file)
                note("temporary_files" if file.is_temporary else "orphaned_files", file.path.name)
            else:
                counts["kept_files"] += 1
            continue
        expires = _expires_at(record)
        if expires is not None and expires <= now:
            doomed.append(file)
            expired_jobs.append((record.job_id, record.owner))
            note("expired_files", record.job_id)
        else:
            counts["kept_files"] += 1
    # Records go first: a download racing with the cleanup then finds no job rather than a
    # job whose file has vanished.
    counts["records_removed"] = await store.delete_records(expired_jobs)
    counts["bytes_freed"] = await asyncio.to_thread(_remove, doomed)
    job.report_progress(len(files), len(files), f"{len(doomed)} of {len(files)} files removed")
    log.info("export cleanup: %s", counts)
    return MaintenanceReport(counts=counts, examples=examples)


def _remove(files: list[_File]) -> int:
    freed = 0
    for file in files:
        try:
            file.path.unlink()
            freed += file.size
        except FileNotFoundError:
            pass  # removed meanwhile (another cleanup): the goal is met
    return freed
