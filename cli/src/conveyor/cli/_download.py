"""``conveyor jobs download``: streaming a job's file from the gateway to disk (or stdout)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import BinaryIO

from conveyor.cli._gateway import CliUsageError, GatewayClient

CHUNK = 256 * 1024


def local_name(offered: str | None, job_id: str) -> str:
    """The server's file name reduced to a bare name (never a path out of the directory)."""
    name = Path(offered or "").name
    return name if name not in ("", ".", "..") else job_id


def _target(out: str | None, name: str, *, force: bool) -> Path:
    target = Path(out) if out else Path(name)
    if target.is_dir():
        target = target / name
    if target.exists() and not force:
        raise CliUsageError(f"{target} exists: pass --force to overwrite it")
    return target


async def download(
    client: GatewayClient, job_id: str, *, out: str | None, force: bool
) -> tuple[str, int]:
    """Write the file of ``job_id`` to ``out`` (a file, a directory, ``-`` for stdout, or the
    offered name here); returns where it went and its size in bytes.

    The file is written to ``<name>.part`` and renamed when complete, so an interrupted
    download never looks like a whole file.
    """
    async with client.stream(f"/api/v1/jobs/{job_id}/download") as response:
        disposition = response.content_disposition
        name = local_name(disposition.filename if disposition else None, job_id)
        if out == "-":
            written = 0
            async for chunk in response.content.iter_chunked(CHUNK):
                await asyncio.to_thread(_write, sys.stdout.buffer, chunk)
                written += len(chunk)
            await asyncio.to_thread(sys.stdout.buffer.flush)
            return "-", written
        target = _target(out, name, force=force)
        partial = target.with_name(target.name + ".part")
        handle = await asyncio.to_thread(partial.open, "wb")
        written = 0
        try:
            try:
                async for chunk in response.content.iter_chunked(CHUNK):
                    await asyncio.to_thread(_write, handle, chunk)
                    written += len(chunk)
            finally:
                await asyncio.to_thread(handle.close)
            await asyncio.to_thread(partial.replace, target)
        except BaseException:
            await asyncio.to_thread(partial.unlink, True)
            raise
        return str(target), written


def _write(handle: BinaryIO, chunk: bytes) -> None:
    handle.write(chunk)
