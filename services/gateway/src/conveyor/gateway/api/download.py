"""Downloading a job's file: ``GET /api/v1/jobs/{job_id}/download``, for the job's owner only."""

from __future__ import annotations

import asyncio
import urllib.parse
from pathlib import Path

from aiohttp import web

from conveyor.contracts.errors import ErrorResponse
from conveyor.contracts.jobs import FileResult, utcnow
from conveyor.contracts.records import JobState
from conveyor.gateway.api._routes import Route, path_param
from conveyor.gateway.api.owner_only import owned_record
from conveyor.gateway.errors import NotFoundError
from conveyor.gateway.state import gateway_of


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` fallback and the exact ``filename*`` (RFC 6266)."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\%;' else "_" for c in filename
    )
    exact = urllib.parse.quote(filename, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


def _existing_file(data_dir: Path, relative: str) -> Path | None:
    """The file at ``relative`` under ``data_dir``, if it is a file there (never outside)."""
    root = data_dir.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


async def download_file(request: web.Request) -> web.FileResponse:
    record = await owned_record(request)  # exports hold data the owner asked for
    job_id = record.job_id
    result = record.result
    if record.state != JobState.SUCCEEDED or not isinstance(result, FileResult):
        raise NotFoundError(f"job {job_id!r} has no file to download")
    expires_at = record.expires_at or result.expires_at
    if expires_at <= utcnow():
        raise NotFoundError(f"the file of job {job_id!r} has expired")
    data_dir = Path(gateway_of(request).settings.data_dir)
    path = await asyncio.to_thread(_existing_file, data_dir, result.path)
    if path is None:
        raise NotFoundError(f"the file of job {job_id!r} is gone")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": result.media_type,
            "Content-Disposition": content_disposition(result.filename),
            "Cache-Control": "private, no-store",
        },
    )


ROUTES = [
    Route(
        "GET",
        "/api/v1/jobs/{job_id}/download",
        download_file,
        summary="Download a finished job's file (its owner only)",
        responses={200: None, 401: ErrorResponse, 404: ErrorResponse},
        parameters=(path_param("job_id", "The job's id, as returned by the submit call."),),
    ),
]
