"""The dataset manifest: which parquet files make up the current version of the dataset.

An import that replaces awards rewrites the files holding them under new names; the new set
becomes visible in one step, by renaming a new ``manifest.json`` over the old one. Readers
that listed the old set keep reading it: the files it no longer names are only *retired*,
and deleted by a later import once ``RETIRED_GRACE_SECONDS`` have passed. A directory without
a manifest (a generated dataset, or files copied in by hand) is every ``awards-*.parquet``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import msgspec

MANIFEST_NAME = "manifest.json"

RETIRED_GRACE_SECONDS = 3600.0
"""How long a file stays on disk after an import dropped it, for readers that listed it
before (an export streaming the old version)."""


class RetiredFile(msgspec.Struct, frozen=True):
    name: str
    retired_at: float
    """Unix time."""


class DatasetManifest(msgspec.Struct, frozen=True):
    """The files of the current version, in order, and the retired files still on disk."""

    files: list[str]
    retired: list[RetiredFile] = []
    updated_at: float = 0.0


_decoder = msgspec.json.Decoder(DatasetManifest)
_encoder = msgspec.json.Encoder()


def manifest_path(directory: str | os.PathLike[str]) -> Path:
    return Path(directory) / MANIFEST_NAME


def read_manifest(directory: str | os.PathLike[str]) -> DatasetManifest | None:
    """The directory's manifest, or None when it has none."""
    try:
        data = manifest_path(directory).read_bytes()
    except FileNotFoundError:
        return None
    return _decoder.decode(data)


def write_manifest(directory: str | os.PathLike[str], manifest: DatasetManifest) -> None:
    """Replace the manifest atomically (written aside, flushed, renamed over the old one)."""
    final = manifest_path(directory)
    tmp = final.with_name(f".{final.name}.tmp")
    with tmp.open("wb") as fh:
        fh.write(_encoder.encode(manifest))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)


def remove_manifest(directory: str | os.PathLike[str]) -> None:
    """Forget the manifest: every ``awards-*.parquet`` is the dataset again (the caller
    deletes the files it does not want, retired ones included)."""
    manifest_path(directory).unlink(missing_ok=True)


def expired(retired: list[RetiredFile], *, now: float | None = None) -> list[RetiredFile]:
    """The retired files whose grace period is over."""
    cutoff = (time.time() if now is None else now) - RETIRED_GRACE_SECONDS
    return [r for r in retired if r.retired_at <= cutoff]
