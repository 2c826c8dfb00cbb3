"""An export's rows (conveyor.export_worker.export), for random filters, are DuckDB's, in order."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.contracts.jobs import AwardFilters, SortKey
from conveyor.export_worker.export import build_query
from tests.support.duckdb_oracle import Oracle, awards_frame, filters, sort_keys, write_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("edge-awards")
    write_dataset(directory, awards_frame(), files=4)
    return directory


@pytest.fixture(scope="module")
def oracle(dataset: Path) -> Oracle:
    return Oracle(sorted(dataset.glob("*.parquet")))


def _exported(dataset: Path, f: AwardFilters, keys: list[SortKey], chunk_rows: int) -> list[str]:
    query = build_query(dataset, f, ["award_reference_no"], keys)
    return [r for chunk in query.chunks(chunk_rows) for r in chunk["award_reference_no"]]


@settings(max_examples=30, deadline=None, database=None)
@given(f=filters(), chunk_rows=st.integers(min_value=60, max_value=500))
def test_an_unsorted_export_is_in_dataset_order(
    dataset: Path, oracle: Oracle, f: AwardFilters, chunk_rows: int
) -> None:
    # Dataset order: file by file, row by row (the references are random, so it is not theirs).
    assert _exported(dataset, f, [], chunk_rows) == oracle.references(f, order="position")


@settings(max_examples=25, deadline=None, database=None)
@given(f=filters(), keys=sort_keys(min_size=1))
def test_a_sorted_export_follows_its_keys_then_the_reference(
    dataset: Path, oracle: Oracle, f: AwardFilters, keys: list[SortKey]
) -> None:
    assert _exported(dataset, f, keys, 100) == oracle.references(f, order=oracle.order_by(keys))


def test_dataset_order_is_not_reference_order(oracle: Oracle) -> None:
    everything = AwardFilters()
    assert oracle.references(everything, order="position") != oracle.references(everything)
