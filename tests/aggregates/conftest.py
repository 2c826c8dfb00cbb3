"""A small awards dataset with the awkward rows: nulls, unicode names, boundary dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from conveyor.awards.generator import generate
from conveyor.awards.schema import DATASET_DIR, conform, data_file_name

EDGE_ROWS = [
    # Unicode names (case folding beyond ASCII), a null amount, boundary dates.
    {
        "award_reference_no": "AWD-ZZ-0001",
        "award_title": "Pagawaan ng Tulay sa Parañaque",
        "notice_title": "ΟΔΟΣ Construction Lot 1",
        "awardee_name": "Ñiño & Peña Builders",
        "procuring_entity": "LUNGSOD NG PARAÑAQUE",
        "region": "NCR",
        "area_of_delivery": "Metro Manila",
        "business_category": "Civil Works",
        "contract_amount": None,
        "award_date": dt.date(2016, 1, 1),
    },
    {
        "award_reference_no": "AWD-ZZ-0002",
        "award_title": "Supply of ÉCOLE Chairs",
        "notice_title": None,
        "awardee_name": "Ñiño & Peña Builders",
        "procuring_entity": None,
        "region": None,
        "area_of_delivery": None,
        "business_category": None,
        "contract_amount": 1234.5,
        "award_date": dt.date(2019, 12, 31),
    },
    {
        "award_reference_no": "AWD-ZZ-0003",
        "award_title": None,
        "notice_title": None,
        "awardee_name": None,
        "procuring_entity": "LUNGSOD NG PARAÑAQUE",
        "region": "NCR",
        "area_of_delivery": "Metro Manila",
        "business_category": "Civil Works",
        "contract_amount": 99.0,
        "award_date": None,
    },
]


@pytest.fixture(scope="session")
def awards_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose ``awards`` holds 2,000 generated awards plus ``EDGE_ROWS``."""
    data_dir = tmp_path_factory.mktemp("aggregates-data")
    dataset = data_dir / DATASET_DIR
    generate(2_000, dataset, seed=5, chunk_rows=800, contractors=300)
    conform(pl.DataFrame(EDGE_ROWS)).write_parquet(dataset / data_file_name(50))
    return data_dir


@pytest.fixture(scope="session")
def awards_dir(awards_data_dir: Path) -> Path:
    return awards_data_dir / DATASET_DIR
