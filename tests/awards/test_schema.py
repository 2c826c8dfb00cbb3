"""Tests of the dataset's layout and version."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from conveyor.awards.generator import generate
from conveyor.awards.manifest import DatasetManifest, RetiredFile, write_manifest
from conveyor.awards.schema import (
    AWARDS_SCHEMA,
    count_rows,
    dataset_files,
    dataset_version,
    next_file_index,
    scan_dataset,
    temporary_name,
)
from conveyor.contracts.jobs import AWARD_COLUMNS


def test_the_schema_has_the_shared_columns_in_order() -> None:
    assert tuple(AWARDS_SCHEMA) == AWARD_COLUMNS
    assert AWARDS_SCHEMA["contract_amount"] == pl.Float64
    assert AWARDS_SCHEMA["approved_budget"] == pl.Float64
    assert AWARDS_SCHEMA["award_date"] == pl.Date
    assert AWARDS_SCHEMA["published_date"] == pl.Date
    assert AWARDS_SCHEMA["awardee_name"] == pl.String


def test_the_version_changes_whenever_a_file_does(tmp_path: Path) -> None:
    empty = dataset_version(tmp_path)
    generate(300, tmp_path, chunk_rows=100, contractors=20)
    first = dataset_version(tmp_path)
    assert first != empty
    assert dataset_version(tmp_path) == first

    file = dataset_files(tmp_path)[1]
    stat = file.stat()
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000))
    touched = dataset_version(tmp_path)
    assert touched != first

    temporary_name(tmp_path / "awards-00003.parquet").write_bytes(b"half written")
    (tmp_path / "README").write_text("not data")
    assert dataset_version(tmp_path) == touched

    generate(300, tmp_path, chunk_rows=150, contractors=20, overwrite=True)
    assert dataset_version(tmp_path) not in (first, touched)


def test_files_are_listed_in_index_order(tmp_path: Path) -> None:
    for index in (10, 2, 0):
        pl.DataFrame(schema=AWARDS_SCHEMA).write_parquet(tmp_path / f"awards-{index:05d}.parquet")
    (tmp_path / "awards-x.parquet").write_bytes(b"")
    assert [p.name for p in dataset_files(tmp_path)] == [
        "awards-00000.parquet",
        "awards-00002.parquet",
        "awards-00010.parquet",
    ]
    assert next_file_index(tmp_path) == 11


def test_an_empty_directory_is_an_empty_dataset(tmp_path: Path) -> None:
    assert count_rows(tmp_path) == 0
    assert next_file_index(tmp_path) == 0
    assert scan_dataset(tmp_path).collect().schema == AWARDS_SCHEMA


def test_rows_are_counted(tmp_path: Path) -> None:
    generate(250, tmp_path, chunk_rows=100, contractors=20)
    assert count_rows(tmp_path) == 250
    assert scan_dataset(tmp_path).select(pl.len()).collect().item() == 250


def test_a_manifest_names_the_files_of_the_version_and_new_names_skip_retired_ones(
    tmp_path: Path,
) -> None:
    for index in (0, 1, 2):
        pl.DataFrame(schema=AWARDS_SCHEMA).write_parquet(tmp_path / f"awards-{index:05d}.parquet")
    before = dataset_version(tmp_path)
    write_manifest(
        tmp_path,
        DatasetManifest(
            files=["awards-00002.parquet", "awards-00000.parquet"],
            retired=[RetiredFile("awards-00001.parquet", 0.0)],
        ),
    )
    assert [p.name for p in dataset_files(tmp_path)] == [
        "awards-00002.parquet",
        "awards-00000.parquet",
    ]
    assert dataset_version(tmp_path) != before
    assert next_file_index(tmp_path) == 3
    assert not list(tmp_path.glob(".*.tmp"))
