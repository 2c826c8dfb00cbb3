"""Tests of the synthetic awards generator."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from conveyor.awards.generator import (
    FIRST_DAY,
    LAST_DAY,
    MIN_AMOUNT,
    DatasetExistsError,
    GenerationReport,
    generate,
)
from conveyor.awards.marginals_data import load_marginals
from conveyor.awards.regions import region_of
from conveyor.awards.schema import AWARDS_SCHEMA, dataset_files, scan_dataset
from conveyor.contracts.jobs import AWARD_COLUMNS
from tests.awards.conftest import SMALL_ROWS


@pytest.fixture(scope="module")
def frame(small_dataset: GenerationReport) -> pl.DataFrame:
    return pl.read_parquet(small_dataset.files)


def test_the_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    a = generate(1_500, tmp_path / "a", seed=3, chunk_rows=1_000, contractors=500)
    b = generate(1_500, tmp_path / "b", seed=3, chunk_rows=1_000, contractors=500)
    assert [f.name for f in a.files] == [f.name for f in b.files]
    assert [f.read_bytes() for f in a.files] == [f.read_bytes() for f in b.files]


def test_another_seed_gives_other_data(tmp_path: Path) -> None:
    a = generate(500, tmp_path / "a", seed=1, contractors=500)
    b = generate(500, tmp_path / "b", seed=2, contractors=500)
    assert not pl.read_parquet(a.files).equals(pl.read_parquet(b.files))


def test_files_are_chunks_with_the_dataset_schema(small_dataset: GenerationReport) -> None:
    assert [f.name for f in small_dataset.files] == [
        "awards-00000.parquet",
        "awards-00001.parquet",
        "awards-00002.parquet",
    ]
    heights = [pl.read_parquet(f).height for f in small_dataset.files]
    assert heights == [2_000, 2_000, 1_000]
    for f in small_dataset.files:
        assert pl.read_parquet_schema(f) == dict(AWARDS_SCHEMA)
    assert list(AWARDS_SCHEMA) == list(AWARD_COLUMNS)
    # Nothing left under temporary names.
    assert sorted(p.name for p in small_dataset.files[0].parent.iterdir()) == [
        f.name for f in small_dataset.files
    ]


def test_generated_data_is_clean(frame: pl.DataFrame) -> None:
    assert frame.height == SMALL_ROWS
    assert frame.null_count().sum_horizontal().item() == 0
    assert frame["award_reference_no"].n_unique() == SMALL_ROWS
    assert frame.filter(pl.col("award_title") == "").is_empty()


def test_names_are_drawn_from_the_real_marginals(frame: pl.DataFrame) -> None:
    m = load_marginals()
    assert set(frame["area_of_delivery"]) <= set(m.areas["entity"])
    assert set(frame["business_category"]) <= set(m.categories["entity"])
    assert set(frame["procuring_entity"]) <= set(m.organizations["entity"])
    # Real weights: Metro Manila holds about 16 % of real awards, far more than any other.
    top_area = frame["area_of_delivery"].value_counts(sort=True)["area_of_delivery"][0]
    assert top_area == "Metro Manila"
    assert frame["procuring_entity"].n_unique() > 1_000


def test_regions_follow_the_area(frame: pl.DataFrame) -> None:
    pairs = frame.select("area_of_delivery", "region").unique().rows()
    assert all(region == region_of(area) for area, region in pairs)


def test_contractors_are_skewed(frame: pl.DataFrame) -> None:
    counts = frame["awardee_name"].value_counts(sort=True)["count"]
    assert counts.len() > 1_000
    assert counts[0] >= 5 * counts.median()  # type: ignore[operator]


def test_amounts_and_dates_are_in_range(frame: pl.DataFrame) -> None:
    assert frame["contract_amount"].min() >= MIN_AMOUNT  # type: ignore[operator]
    assert (frame["approved_budget"] >= frame["contract_amount"]).all()
    assert (frame["approved_budget"] <= frame["contract_amount"] * 1.5 + 0.01).all()
    assert frame["published_date"].min() >= FIRST_DAY  # type: ignore[operator]
    assert frame["award_date"].max() <= LAST_DAY  # type: ignore[operator]
    lag = (frame["award_date"] - frame["published_date"]).dt.total_days()
    assert lag.min() >= 0  # type: ignore[operator]
    assert lag.max() <= 60  # type: ignore[operator]
    years = frame["award_date"].dt.year().unique()
    assert years.len() == 13


def test_amounts_are_near_each_category_s_real_average(frame: pl.DataFrame) -> None:
    averages = dict(load_marginals().categories.select("entity", "average_contract_value").rows())
    by_category = frame.group_by("business_category").agg(
        pl.col("contract_amount").median().alias("median"), pl.len()
    )
    for category, median, n in by_category.filter(pl.col("len") >= 200).rows():
        # The log-normal's mean is the real average; its median sits below it (sigma 1.1).
        assert 0.2 * averages[category] < median < 1.5 * averages[category]
        assert n >= 200


def test_titles_are_searchable_text(frame: pl.DataFrame) -> None:
    construction = frame.filter(pl.col("business_category") == "Construction Projects")
    assert construction["award_title"].str.contains(" at Brgy. ").all()
    assert construction["classification"].unique().to_list() == ["Civil Works"]
    assert frame["notice_title"].str.contains(r" CY 20\d\d( - Lot \d)?$").all()


def test_large_contracts_are_mostly_publicly_bid(frame: pl.DataFrame) -> None:
    large = frame.filter(pl.col("approved_budget") >= 1_000_000)
    share = (large["procurement_mode"] == "Public Bidding").mean()
    assert share is not None and share > 0.6  # type: ignore[operator]


def test_an_existing_dataset_is_kept_unless_overwritten(tmp_path: Path) -> None:
    generate(2_500, tmp_path, chunk_rows=1_000, contractors=200)
    with pytest.raises(DatasetExistsError):
        generate(100, tmp_path, contractors=200)
    assert len(dataset_files(tmp_path)) == 3
    generate(100, tmp_path, contractors=200, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["awards-00000.parquet"]
    assert scan_dataset(tmp_path).collect().height == 100


def test_zero_rows_give_an_empty_file_with_the_schema(tmp_path: Path) -> None:
    report = generate(0, tmp_path, contractors=10)
    assert len(report.files) == 1
    frame = pl.read_parquet(report.files[0])
    assert frame.height == 0
    assert frame.schema == AWARDS_SCHEMA


def test_the_marginals_directory_is_configurable(tmp_path: Path) -> None:
    marginals = tmp_path / "marginals"
    marginals.mkdir()
    stamp = dt.datetime(2020, 1, 1)
    for name, entities in (
        ("agg_area.parquet", ["Leyte", "Cebu"]),
        ("agg_business_category.parquet", ["Catering Services"]),
        ("agg_organization.parquet", ["CITY OF TACLOBAN", "PROVINCE OF CEBU", "sample province"]),
    ):
        pl.DataFrame(
            {
                "entity": entities,
                "contract_count": [10] * len(entities),
                "average_contract_value": [250_000.0] * len(entities),
                "first_contract_date": [stamp] * len(entities),
            }
        ).write_parquet(marginals / name)
    report = generate(300, tmp_path / "out", marginals_dir=marginals, contractors=50)
    frame = pl.read_parquet(report.files)
    assert set(frame["area_of_delivery"]) == {"Leyte", "Cebu"}
    assert set(frame["region"]) == {"Region VII", "Region VIII"}
    assert set(frame["business_category"]) == {"Catering Services"}
    # The placeholder entry of the real data is not drawn.
    assert set(frame["procuring_entity"]) == {"CITY OF TACLOBAN", "PROVINCE OF CEBU"}
