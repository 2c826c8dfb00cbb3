"""The owner's export quota: bytes of unexpired exports kept, checked before and after writing.

An export that would take its owner past the quota fails with ``export_quota_exceeded`` and
its file is deleted; older exports are never evicted to make room, since a user may be about
to download them. The bytes free up as downloads expire (``CONVEYOR_EXPORT_TTL_HOURS``).
"""

from __future__ import annotations

import datetime as dt
import logging

from conveyor.contracts.errors import ErrorCode
from conveyor.export_worker.export import Written
from conveyor.runtime.limits import LimitStore
from conveyor.runtime.worker import RejectJob

log = logging.getLogger(__name__)


class ExportQuota:
    """Checks and records the bytes each owner keeps in exports."""

    def __init__(self, store: LimitStore, *, quota_bytes: int, ttl: dt.timedelta) -> None:
        self.store = store
        self.quota_bytes = quota_bytes
        self.ttl = ttl

    async def ensure_room(self, owner: str) -> None:
        """Reject the job at once if ``owner`` is already at the quota (nothing is written)."""
        room = await self.store.check_export_room(owner, quota=self.quota_bytes)
        if not room.fits:
            raise self._refusal(room.kept_bytes, 0)

    async def keep(self, owner: str, job_id: str, written: Written) -> None:
        """Count a finished export, or delete it and reject the job if it does not fit."""
        room = await self.store.keep_export(
            owner, job_id, written.size_bytes, quota=self.quota_bytes, ttl=self.ttl
        )
        if not room.fits:
            written.path.unlink(missing_ok=True)
            raise self._refusal(room.kept_bytes, written.size_bytes)

    def _refusal(self, kept: int, size: int) -> RejectJob:
        this = f"; this export has {size:,} bytes" if size else ""
        return RejectJob(
            f"export quota exceeded: you keep {kept:,} bytes of exports and may keep at most "
            f"{self.quota_bytes:,} (CONVEYOR_EXPORT_QUOTA_BYTES){this}; older exports free "
            "their bytes when their downloads expire",
            code=ErrorCode.EXPORT_QUOTA_EXCEEDED,
        )
