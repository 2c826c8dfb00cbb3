"""Random filters and sorts (conveyor.awards.filters) select and order the rows DuckDB does."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import example, given, settings

from conveyor.awards.filters import apply_filters, apply_sort
from conveyor.awards.schema import scan_dataset
from conveyor.contracts.jobs import AwardFilters, SortKey
from tests.support.duckdb_oracle import Oracle, awards_frame, filters, sort_keys, write_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("edge-awards")
    write_dataset(directory, awards_frame())
    return directory


@pytest.fixture(scope="module")
def oracle(dataset: Path) -> Oracle:
    return Oracle(sorted(dataset.glob("*.parquet")))


def _ours(dataset: Path, f: AwardFilters, keys: list[SortKey]) -> list[str]:
    sorted_ = apply_sort(apply_filters(scan_dataset(dataset), f), keys)
    return sorted_.select("award_reference_no").collect().to_series().to_list()


@settings(max_examples=120, deadline=None, database=None)
@given(f=filters(), keys=sort_keys())
@example(f=AwardFilters(keywords=["ORDONEZ"]), keys=[])
@example(f=AwardFilters(keywords=["canal   DRAINAGE"]), keys=[])
@example(f=AwardFilters(keywords=['"road  of"', "niño"]), keys=[])
@example(f=AwardFilters(areas=["NCR", "Cebu"]), keys=[SortKey(column="awardee_name")])
def test_random_filters_select_and_order_what_duckdb_does(
    dataset: Path, oracle: Oracle, f: AwardFilters, keys: list[SortKey]
) -> None:
    assert _ours(dataset, f, keys) == oracle.references(f, order=oracle.order_by(keys))


def test_keywords_ignore_accents_case_and_whitespace(dataset: Path, oracle: Oracle) -> None:
    # The cases: an accent-less keyword finds the accented names, and a keyword of two
    # words finds them apart, as the same words in a search do.
    plain = _ours(dataset, AwardFilters(keywords=["ordonez"]), [])
    accented = _ours(dataset, AwardFilters(keywords=["  ORDOÑEZ\t"]), [])
    assert plain == accented and len(plain) > 50
    apart = _ours(dataset, AwardFilters(keywords=["canal drainage"]), [])
    assert apart == _ours(dataset, AwardFilters(keywords=["canal", "drainage"]), [])
    phrase = _ours(dataset, AwardFilters(keywords=['"canal drainage"']), [])
    assert 0 < len(phrase) < len(apart)
    assert frozenset(phrase) == frozenset(oracle.references(AwardFilters(), '"canal drainage"'))


def test_the_edge_case_dataset_has_the_edges_it_promises(dataset: Path) -> None:
    frame = pl.read_parquet(sorted(dataset.glob("*.parquet")))
    assert frame.null_count().row(0, named=True)["contract_amount"] > 0
    tied = frame.group_by("awardee_name").agg(pl.col("contract_amount").sum()).height
    assert tied > 10
    assert frame.filter(pl.col("award_title").str.contains("\u00a0|\t")).height > 0
