"""The dataset integrity checks find planted problems, and none in a clean generated dataset."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

from conveyor.awards.generator import generate
from conveyor.awards.schema import AWARDS_SCHEMA, conform, data_file_name, dataset_files
from conveyor.maintenance.dataset_checks import check_dataset

TODAY = dt.date(2026, 11, 23)


@pytest.fixture(scope="module")
def clean_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean-awards")
    generate(3_000, out, seed=11, chunk_rows=1_000, contractors=500)
    return out


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def _award(ref: str | None, **fields: object) -> dict[str, object]:
    row: dict[str, object] = {
        "award_reference_no": ref,
        "award_title": "Supply of office chairs",
        "awardee_name": "ACME TRADING",
        "procuring_entity": "DEPARTMENT OF EDUCATION",
        "approved_budget": 1_000.0,
        "contract_amount": 900.0,
        "published_date": dt.date(2020, 1, 1),
        "award_date": dt.date(2020, 2, 1),
    }
    row.update(fields)
    return row


def _append(directory: Path, rows: list[dict[str, object]]) -> None:
    index = len(dataset_files(directory))
    frame = conform(pl.DataFrame(rows, schema_overrides={"award_date": pl.Date}))
    frame.write_parquet(directory / data_file_name(index + 100))


def _problems(directory: Path, max_examples: int = 5) -> dict[str, tuple[int, list[str]]]:
    report = check_dataset(directory, version="test", max_examples=max_examples, today=TODAY)
    return {p.kind: (p.count, p.examples) for p in report.problems}


def test_a_clean_generated_dataset_has_no_problems(clean_dataset: Path) -> None:
    report = check_dataset(clean_dataset, version="v", max_examples=5, today=TODAY)
    assert report.problems == []
    assert report.rows == 3_000
    assert report.files == 3


def test_planted_row_problems_are_counted_per_kind_with_examples(
    clean_dataset: Path, tmp_path: Path
) -> None:
    directory = _copy(clean_dataset, tmp_path / "awards")
    existing_ref = pl.read_parquet(dataset_files(directory)[0])["award_reference_no"][0]
    _append(
        directory,
        [
            _award("P-NEG", contract_amount=-5.0),
            _award("P-1920", award_date=dt.date(1920, 3, 1)),
            _award("P-2033", published_date=dt.date(2033, 1, 1)),
            _award("P-ABC", approved_budget=100.0, contract_amount=250.0),
            _award(None),
            _award("P-NOTITLE", award_title=None),
            _award(existing_ref),
            _award("P-TWICE"),
            _award("P-TWICE"),
        ],
    )
    found = _problems(directory)
    assert found["negative_amount"][0] == 1
    assert found["negative_amount"][1][0].startswith("P-NEG: ")
    assert found["implausible_award_date"][0] == 1
    assert "1920-03-01" in found["implausible_award_date"][1][0]
    assert found["implausible_published_date"][0] == 1
    assert found["budget_below_contract"] == (
        1,
        ["P-ABC: approved_budget 100.0 < contract_amount 250.0"],
    )
    assert found["null_award_reference_no"][0] == 1
    assert found["null_award_reference_no"][1][0].startswith("row ")
    assert found["null_award_title"] == (1, ["P-NOTITLE: award_title is empty"])
    assert found["duplicate_award_reference_no"][0] == 4
    assert f"{existing_ref}: 2 rows" in found["duplicate_award_reference_no"][1]
    assert "P-TWICE: 2 rows" in found["duplicate_award_reference_no"][1]
    assert set(found) == {
        "negative_amount",
        "implausible_award_date",
        "implausible_published_date",
        "budget_below_contract",
        "null_award_reference_no",
        "null_award_title",
        "duplicate_award_reference_no",
    }


def test_unreadable_files_and_wrong_schemas_are_reported_and_the_rest_still_checked(
    clean_dataset: Path, tmp_path: Path
) -> None:
    directory = _copy(clean_dataset, tmp_path / "awards")
    (directory / data_file_name(50)).write_bytes(b"this is not parquet")
    frame = conform(pl.DataFrame([_award("W-1")], schema_overrides={"award_date": pl.Date}))
    frame.drop("region").write_parquet(directory / data_file_name(51))
    frame.with_columns(pl.col("contract_amount").cast(pl.String)).write_parquet(
        directory / data_file_name(52)
    )
    report = check_dataset(directory, version="v", max_examples=5, today=TODAY)
    found = {p.kind: p for p in report.problems}
    assert set(found) == {"unreadable_file", "missing_column", "wrong_type"}
    assert found["unreadable_file"].examples[0].startswith("awards-00050.parquet: ")
    assert found["missing_column"].examples == ["awards-00051.parquet: region"]
    expected = AWARDS_SCHEMA["contract_amount"]
    assert found["wrong_type"].examples == [
        f"awards-00052.parquet: contract_amount is String, expected {expected}"
    ]
    assert report.rows == 3_000  # the readable, well-formed files


def test_a_missing_dataset_is_a_problem(tmp_path: Path) -> None:
    assert _problems(tmp_path / "nowhere") == {"dataset_missing": (1, [str(tmp_path / "nowhere")])}


def test_examples_are_capped_by_max_examples(clean_dataset: Path, tmp_path: Path) -> None:
    directory = _copy(clean_dataset, tmp_path / "awards")
    _append(directory, [_award(f"N-{i}", contract_amount=-1.0) for i in range(7)])
    assert len(_problems(directory, max_examples=3)["negative_amount"][1]) == 3
    assert _problems(directory, max_examples=0)["negative_amount"] == (7, [])
