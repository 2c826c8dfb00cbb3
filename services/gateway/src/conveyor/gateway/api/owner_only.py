"""Lookups of a job for its owner alone (results and downloads hold the owner's data)."""

from __future__ import annotations

from aiohttp import web

from conveyor.contracts.records import JobRecord
from conveyor.gateway.auth import principal_of
from conveyor.gateway.errors import NotFoundError
from conveyor.gateway.state import gateway_of


async def owned_record(request: web.Request) -> JobRecord:
    """The record of the ``job_id`` in the path if the caller owns it; else ``NotFoundError``.

    Admins are "others" here too, and every refusal looks like a job that does not exist, so
    an id reveals nothing about someone else's job.
    """
    job_id = request.match_info["job_id"]
    record = await gateway_of(request).store.get(job_id)
    if record is None or record.owner != principal_of(request).user:
        raise NotFoundError(f"no job {job_id!r}")
    return record
