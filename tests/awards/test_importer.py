"""Tests of importing public award CSV and XLSX files into the dataset."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import polars as pl
import pytest

from conveyor.awards import manifest as manifest_module
from conveyor.awards import readers
from conveyor.awards.errors import DatasetLockedError
from conveyor.awards.generator import generate
from conveyor.awards.importer import import_files
from conveyor.awards.manifest import read_manifest
from conveyor.awards.replacement import SUPERSEDED, import_lock
from conveyor.awards.row_checks import (
    BAD_AMOUNT,
    BAD_AWARD_DATE,
    BAD_BUDGET,
    BAD_PUBLISHED_DATE,
    MISSING_AMOUNT,
    MISSING_AWARD_DATE,
    MISSING_REFERENCE,
    NEGATIVE_AMOUNT,
)
from conveyor.awards.schema import AWARDS_SCHEMA, dataset_files, dataset_version, scan_dataset

OLD_HEADERS = [
    "Award Ref No",
    "Organization Name",
    "Awardee Name",
    "Area of Delivery",
    "Category",
    "Awarded Amount",
    "ABC",
    "Date Awarded",
    "Publish Date",
    "Notice Title",
    "Remarks",
]
NEW_HEADERS = [
    "AWARD REFERENCE NO.",
    "Procuring Entity",
    "Supplier Name",
    "Delivery Area",
    "Business Category",
    "Contract Amount (PHP)",
    "Approved Budget for the Contract",
    "Award Date",
    "Published Date",
    "Award Title",
    "Region",
    "Mode of Procurement",
]


def _write_csv(path: Path, rows: list[list[str]], *, preamble: int = 0) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        for _ in range(preamble):
            writer.writerow(["PhilGEPS Award Notices (public export)"])
        writer.writerows(rows)
    return path


def _read(out: Path) -> pl.DataFrame:
    return pl.read_parquet(dataset_files(out)).sort("award_reference_no")


def test_old_header_spellings_map_and_values_parse(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "awards-2014.csv",
        [
            OLD_HEADERS,
            [
                "2014-001",
                "CITY OF TACLOBAN",
                "Santos Builders, Inc.",
                "Leyte",
                "Construction Projects",
                "1,234,567.89",
                "PHP 1,300,000.00",
                "03/15/2014",
                "2014-03-01",
                "Road Concreting",
                "x",
            ],
            [
                "2014-002",
                "PROVINCE OF CEBU",
                "Niño's Trading",
                "Cebu",
                "Food Stuff",
                "₱ 12,000",
                "12000",
                "5-Mar-2014",
                "",
                "Rice",
                "",
            ],
        ],
        preamble=2,
    )
    report = import_files([path], tmp_path / "out")
    assert (report.rows, report.rows_imported, report.rows_rejected) == (2, 2, 0)
    file = report.files[0]
    assert file.columns["Organization Name"] == "procuring_entity"
    assert file.columns["Awardee Name"] == "awardee_name"
    assert file.columns["ABC"] == "approved_budget"
    assert file.ignored_headers == ["Remarks"]
    assert "region" in file.missing_columns
    frame = _read(tmp_path / "out")
    assert frame.schema == AWARDS_SCHEMA
    assert frame.rows() == [
        (
            "2014-001",
            None,
            None,
            "Road Concreting",
            "Santos Builders, Inc.",
            "CITY OF TACLOBAN",
            "Region VIII",
            "Leyte",
            "Construction Projects",
            None,
            None,
            None,
            1_300_000.0,
            1_234_567.89,
            dt.date(2014, 3, 1),
            dt.date(2014, 3, 15),
            None,
        ),
        (
            "2014-002",
            None,
            None,
            "Rice",
            "Niño's Trading",
            "PROVINCE OF CEBU",
            "Region VII",
            "Cebu",
            "Food Stuff",
            None,
            None,
            None,
            12_000.0,
            12_000.0,
            None,
            dt.date(2014, 3, 5),
            None,
        ),
    ]


def test_new_header_spellings_map_too(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "awards-2023.csv",
        [
            NEW_HEADERS,
            [
                "2023-9",
                "DPWH - LEYTE 1ST DEO",
                "RJM Construction Corp.",
                "Leyte",
                "Construction Projects",
                "PHP 9,999,000.00",
                "10,000,000.00",
                "March 5, 2023",
                "2023-02-20 00:00:00",
                "Construction of Seawall",
                "Region VIII",
                "Public Bidding",
            ],
        ],
    )
    report = import_files([path], tmp_path / "out")
    assert report.rows_imported == 1
    assert report.files[0].ignored_headers == []
    row = _read(tmp_path / "out").row(0, named=True)
    assert row["procuring_entity"] == "DPWH - LEYTE 1ST DEO"
    assert row["awardee_name"] == "RJM Construction Corp."
    assert row["area_of_delivery"] == "Leyte"
    assert row["contract_amount"] == 9_999_000.0
    assert row["approved_budget"] == 10_000_000.0
    assert row["award_date"] == dt.date(2023, 3, 5)
    assert row["published_date"] == dt.date(2023, 2, 20)
    assert row["award_title"] == "Construction of Seawall"
    assert row["procurement_mode"] == "Public Bidding"


def test_bad_rows_are_rejected_with_row_file_and_reason(tmp_path: Path) -> None:
    good = ["Leyte", "Food Stuff"]
    path = _write_csv(
        tmp_path / "dirty.csv",
        [
            [
                "Award Reference No.",
                "Area of Delivery",
                "Category",
                "Contract Amount",
                "ABC",
                "Award Date",
                "Publish Date",
            ],
            ["R1", *good, "1,000", "1,000", "2020-01-02", "2020-01-01"],  # row 2: fine
            ["", *good, "1,000", "", "2020-01-02", ""],  # row 3
            ["R3", *good, "", "", "2020-01-02", ""],  # row 4
            ["R4", *good, "one thousand", "", "2020-01-02", ""],  # row 5
            ["R5", *good, "(500.00)", "", "2020-01-02", ""],  # row 6
            ["R6", *good, "1,000", "", "", ""],  # row 7
            ["R7", *good, "1,000", "", "31/31/2020", ""],  # row 8
            ["R8", *good, "1,000", "N/A", "2020-01-02", ""],  # row 9
            ["R9", *good, "1,000", "", "2020-01-02", "soon"],  # row 10
            ["R1", *good, "2,000", "", "2020-01-03", ""],  # row 11: replaces row 2
            ["R10", *good, "abc", "", "2020-01-02", ""],  # row 12
        ],
    )
    report = import_files([path], tmp_path / "out")
    assert report.rows == 11
    assert report.rows_imported == 1
    assert report.rejected_by_reason == {
        BAD_AMOUNT: 2,
        BAD_AWARD_DATE: 1,
        BAD_BUDGET: 1,
        BAD_PUBLISHED_DATE: 1,
        SUPERSEDED: 1,
        MISSING_AMOUNT: 1,
        MISSING_AWARD_DATE: 1,
        MISSING_REFERENCE: 1,
        NEGATIVE_AMOUNT: 1,
    }
    examples = {(e.row, e.reason, e.value) for e in report.examples}
    assert examples == {
        (3, MISSING_REFERENCE, None),
        (4, MISSING_AMOUNT, None),
        (5, BAD_AMOUNT, "one thousand"),
        (6, NEGATIVE_AMOUNT, "(500.00)"),
        (7, MISSING_AWARD_DATE, None),
        (8, BAD_AWARD_DATE, "31/31/2020"),
        (9, BAD_BUDGET, "N/A"),
        (10, BAD_PUBLISHED_DATE, "soon"),
        (2, SUPERSEDED, f"R1 ({path} row 11)"),
        (12, BAD_AMOUNT, "abc"),
    }
    assert all(e.file == str(path) for e in report.examples)
    assert _read(tmp_path / "out").select("award_reference_no", "contract_amount").rows() == [
        ("R1", 2_000.0)
    ]
    text = report.format()
    assert "unparseable contract_amount: 2" in text
    assert "row 5: unparseable contract_amount ('one thousand')" in text


def test_examples_are_capped_per_reason_but_all_are_counted(tmp_path: Path) -> None:
    rows = [["Award Ref No", "Contract Amount", "Award Date", "Category"]]
    rows += [[f"R{i}", "bad", "2020-01-01", "Food Stuff"] for i in range(40)]
    report = import_files(
        [_write_csv(tmp_path / "bad.csv", rows)],
        tmp_path / "out",
        examples_per_reason=3,
        block_rows=7,
    )
    assert report.rejected_by_reason == {BAD_AMOUNT: 40}
    assert [e.row for e in report.examples] == [2, 3, 4]
    assert report.written == []


def test_xlsx_typed_cells_and_several_sheets_are_read(tmp_path: Path) -> None:
    path = tmp_path / "awards.xlsx"
    workbook = openpyxl.Workbook()
    first = workbook.active
    first.title = "2019"
    first.append(["Contract Awards 2019"])
    first.append([])
    first.append(
        [
            "Award Reference No.",
            "Organization Name",
            "Contractor",
            "Area of Delivery",
            "Business Category",
            "Contract Amount",
            "Approved Budget for the Contract",
            "Award Date",
            "Publish Date",
        ]
    )
    first.append(
        [
            1900123,
            "CITY OF ILOILO",
            "Golden Trading",
            "Iloilo",
            "Office Supplies and Devices",
            15_000.5,
            16_000,
            dt.datetime(2019, 6, 3),
            dt.date(2019, 5, 20),
        ]
    )
    first.append(
        [
            "X-2",
            "CITY OF ILOILO",
            "Golden Trading",
            "Iloilo",
            "Office Supplies and Devices",
            "n/a",
            16_000,
            dt.datetime(2019, 6, 3),
            None,
        ]
    )
    second = workbook.create_sheet("2019 (2)")
    second.append(
        [
            "Award Ref No",
            "Procuring Entity",
            "Supplier Name",
            "Delivery Area",
            "Category",
            "Awarded Amount",
            "ABC",
            "Date Awarded",
            "Published Date",
        ]
    )
    second.append(
        [
            "X-3",
            "PROVINCE OF ILOILO",
            "Bayanihan Builders",
            "Iloilo",
            "Construction Projects",
            "2,500,000.00",
            "2,600,000.00",
            "06/30/2019",
            "06/01/2019",
        ]
    )
    workbook.create_sheet("Notes").append(["Prepared by the BAC Secretariat"])
    workbook.save(path)

    report = import_files([path], tmp_path / "out")
    assert (report.rows, report.rows_imported) == (3, 2)
    assert report.files[0].notes == ["sheet 'Notes': no header row found, skipped"]
    [example] = report.examples
    assert (example.sheet, example.row, example.reason, example.value) == (
        "2019",
        5,
        BAD_AMOUNT,
        "n/a",
    )
    frame = _read(tmp_path / "out")
    assert frame.select(
        "award_reference_no", "awardee_name", "contract_amount", "award_date", "published_date"
    ).rows() == [
        ("1900123", "Golden Trading", 15_000.5, dt.date(2019, 6, 3), dt.date(2019, 5, 20)),
        ("X-3", "Bayanihan Builders", 2_500_000.0, dt.date(2019, 6, 30), dt.date(2019, 6, 1)),
    ]


def test_imports_append_to_an_existing_dataset(tmp_path: Path) -> None:
    generate(100, tmp_path, contractors=20)
    path = _write_csv(
        tmp_path / "one.csv",
        [["Award Ref No", "Contract Amount", "Award Date"], ["N-1", "10", "2020-01-01"]],
    )
    report = import_files([path], tmp_path, rows_per_file=1)
    assert [p.name for p in report.written] == ["awards-00001.parquet"]
    assert pl.read_parquet(dataset_files(tmp_path)).height == 101


def test_accepted_rows_are_split_into_files(tmp_path: Path) -> None:
    rows = [["Award Ref No", "Contract Amount", "Award Date"]]
    rows += [[f"N-{i}", "10", "2020-01-01"] for i in range(25)]
    report = import_files(
        [_write_csv(tmp_path / "many.csv", rows)], tmp_path / "out", rows_per_file=10, block_rows=4
    )
    assert [pl.read_parquet(p).height for p in report.written] == [10, 10, 5]
    assert _read(tmp_path / "out").height == 25


def test_unreadable_files_are_reported_not_fatal(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    no_header = _write_csv(tmp_path / "blank.csv", [["a", "b"], ["1", "2"]])
    good = _write_csv(
        tmp_path / "good.csv",
        [["Award Ref No", "Contract Amount", "Award Date"], ["G-1", "10", "2020-01-01"]],
    )
    report = import_files([notes, no_header, good], tmp_path / "out")
    assert report.rows_imported == 1
    assert report.files[0].unreadable == "not a .csv, .xlsx or .xlsm file"
    assert report.files[1].unreadable is not None
    assert "no header row" in report.files[1].unreadable
    assert not report.succeeded


HEAD = ["Award Ref No", "Contract Amount", "Award Date"]


def _write_bytes(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_a_one_megabyte_field_is_imported(tmp_path: Path) -> None:
    title = "x" * 2**20
    path = _write_csv(
        tmp_path / "long.csv", [[*HEAD, "Award Title"], ["L-1", "10", "2020-01-01", title]]
    )
    report = import_files([path], tmp_path / "out")
    assert report.rows_imported == 1
    assert _read(tmp_path / "out")["award_title"].to_list() == [title]


def test_a_field_over_the_limit_makes_only_its_file_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "MAX_FIELD_CHARS", 1_000)
    big = _write_csv(
        tmp_path / "big.csv",
        [
            [*HEAD, "Award Title"],
            ["B-1", "10", "2020-01-01", "fine"],
            ["B-2", "10", "2020-01-01", "y" * 1_001],
            ["B-3", "10", "2020-01-01", "after"],
        ],
    )
    good = _write_csv(tmp_path / "good.csv", [HEAD, ["G-1", "10", "2020-01-01"]])
    report = import_files([big, good], tmp_path / "out")
    assert report.files[0].unreadable == (
        "row 3: a field is longer than the limit of 1,000 characters"
    )
    # Nothing of an unreadable file, not even the rows before the damage.
    assert (report.files[0].rows, report.files[0].imported) == (0, 0)
    assert _read(tmp_path / "out")["award_reference_no"].to_list() == ["G-1"]
    assert not report.succeeded


def test_a_corrupt_workbook_is_unreadable_and_the_others_import(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"this is not a zip archive")
    truncated = tmp_path / "truncated.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(HEAD)
    workbook.save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    good = _write_csv(tmp_path / "good.csv", [HEAD, ["G-1", "10", "2020-01-01"]])
    report = import_files([broken, truncated, good], tmp_path / "out")
    assert report.files[0].unreadable == "not an .xlsx workbook (the file is not a zip archive)"
    assert report.files[1].unreadable is not None
    assert report.rows_imported == 1
    assert [f.path for f in report.unreadable_files] == [str(broken), str(truncated)]


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [
        ("utf-8", "UTF-8"),
        ("utf-8-sig", "UTF-8 with BOM"),
        ("utf-16", "UTF-16"),
        ("utf-16-le", "UTF-16 LE (no BOM)"),
        ("cp1252", "Windows-1252/Latin-1"),
        ("latin-1", "Windows-1252/Latin-1"),
    ],
)
def test_encodings_are_detected_and_text_kept_exactly(
    tmp_path: Path, encoding: str, expected: str
) -> None:
    text = (
        "Award Ref No,Awardee Name,Contract Amount,Award Date\r\nE-1,Niño Ñañez,10,2020-01-01\r\n"
    )
    path = _write_bytes(tmp_path / "enc.csv", text, encoding)
    report = import_files([path], tmp_path / "out")
    assert report.files[0].encoding == expected
    assert _read(tmp_path / "out")["awardee_name"].to_list() == ["Niño Ñañez"]


def test_a_file_in_no_known_encoding_is_rejected_with_the_reason(tmp_path: Path) -> None:
    # Valid neither as UTF-8 (0xF1 starts a 4-byte sequence) nor as Windows-1252 (0x81).
    path = tmp_path / "mystery.csv"
    path.write_bytes(
        b"Award Ref No,Awardee Name,Contract Amount,Award Date\nE-1,Ni\xf1o\x81,10,2020-01-01\n"
    )
    report = import_files([path], tmp_path / "out")
    reason = report.files[0].unreadable
    assert reason is not None and reason.startswith("text encoding not recognised")
    assert "0x81" in reason
    assert report.rows_imported == 0


def test_every_row_is_imported_rejected_or_blank(tmp_path: Path) -> None:
    path = _write_bytes(
        tmp_path / "shapes.csv",
        "Award Ref No,Contract Amount,Award Date\n"
        "S-1,10,2020-01-01\n"  # row 2: imported
        "\n"  # row 3: blank
        ",,\n"  # row 4: blank
        "S-2,10,2020-01-01,surplus\n"  # row 5: a cell beyond the header
        "S-3,10,2020-01-01,,\n"  # row 6: empty trailing cells are fine
        "S-4,10\n"  # row 7: short
        "S-5,,2020-01-01\n",  # row 8: missing amount
        "utf-8",
    )
    report = import_files([path], tmp_path / "out")
    file = report.files[0]
    assert (file.rows, file.imported, file.rejected, file.blank) == (7, 2, 3, 2)
    assert file.rows == file.imported + file.rejected + file.blank
    assert {(e.row, e.reason, e.value) for e in report.examples} == {
        (5, "cells beyond the header: 1 beyond its 3 columns", "surplus"),
        (7, "short row: 2 cells, the header has 3", None),
        (8, MISSING_AMOUNT, None),
    }


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.csv", ""),
        ("header-only.csv", "Award Ref No,Contract Amount,Award Date\n"),
        ("notes.txt", "hello"),
        ("all-bad.csv", "Award Ref No,Contract Amount,Award Date\nA-1,bad,2020-01-01\n"),
    ],
)
def test_an_import_that_imports_nothing_has_not_succeeded(
    tmp_path: Path, name: str, content: str
) -> None:
    path = _write_bytes(tmp_path / name, content, "utf-8")
    report = import_files([path], tmp_path / "out")
    assert report.rows_imported == 0
    assert not report.succeeded


def test_rejected_rows_and_unreadable_files_are_written_to_the_rejects_file(
    tmp_path: Path,
) -> None:
    bad = _write_csv(
        tmp_path / "bad.csv", [HEAD, ["A-1", "bad", "2020-01-01"], ["A-2", "10", "2020-01-01"]]
    )
    notes = _write_bytes(tmp_path / "notes.txt", "hello", "utf-8")
    rejects = tmp_path / "report" / "rejects.csv"
    report = import_files([bad, notes], tmp_path / "out", rejects_file=rejects)
    assert report.succeeded is False
    with rejects.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        ["file", "sheet", "row", "reason", "value"],
        [str(bad), "", "2", BAD_AMOUNT, "bad"],
        [str(notes), "", "0", "unreadable file: not a .csv, .xlsx or .xlsm file", ""],
    ]
    assert f"listed in {rejects}" in report.format()


def test_a_later_import_replaces_the_award_and_changes_the_version(tmp_path: Path) -> None:
    generate(1_000, tmp_path, chunk_rows=300, contractors=20)
    before = scan_dataset(tmp_path).collect()
    version = dataset_version(tmp_path)
    reference = before["award_reference_no"][500]
    path = _write_csv(
        tmp_path / "correction.csv",
        [
            [*HEAD, "Award Title"],
            [reference, "42", "2021-02-03", "Corrected"],
            ["NEW-1", "1", "2021-01-01", "New"],
        ],
    )
    report = import_files([path], tmp_path)
    assert (report.rows_imported, report.replaced) == (2, 1)
    after = scan_dataset(tmp_path).collect()
    assert after.height == 1_001
    [row] = after.filter(pl.col("award_reference_no") == reference).rows(named=True)
    assert (row["contract_amount"], row["award_title"]) == (42.0, "Corrected")
    assert dataset_version(tmp_path) != version
    # Only the file that held the award was rewritten; the old one stays for readers that
    # listed it, but is no longer part of the dataset.
    manifest = read_manifest(tmp_path)
    assert manifest is not None and [r.name for r in manifest.retired] == ["awards-00001.parquet"]
    assert (tmp_path / "awards-00001.parquet").exists()
    assert [p.name for p in dataset_files(tmp_path)] == [
        "awards-00000.parquet",
        "awards-00004.parquet",
        "awards-00002.parquet",
        "awards-00003.parquet",
        "awards-00005.parquet",
    ]
    assert after["award_reference_no"].is_duplicated().sum() == 0


def test_retired_files_are_deleted_by_an_import_after_the_grace_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate(100, tmp_path, chunk_rows=100, contractors=20)
    reference = scan_dataset(tmp_path).collect()["award_reference_no"][0]
    first = _write_csv(tmp_path / "a.csv", [HEAD, [reference, "1", "2021-01-01"]])
    import_files([first], tmp_path)
    assert (tmp_path / "awards-00000.parquet").exists()
    monkeypatch.setattr(manifest_module, "RETIRED_GRACE_SECONDS", 0.0)
    second = _write_csv(tmp_path / "b.csv", [HEAD, [reference, "2", "2021-01-01"]])
    report = import_files([second], tmp_path)
    assert report.replaced == 1
    assert not (tmp_path / "awards-00000.parquet").exists()
    frame = scan_dataset(tmp_path).collect()
    assert frame.height == 100
    assert frame.filter(pl.col("award_reference_no") == reference)["contract_amount"].to_list() == [
        2.0
    ]


def test_within_one_import_the_later_file_wins(tmp_path: Path) -> None:
    first = _write_csv(
        tmp_path / "first.csv", [HEAD, ["D-1", "1", "2021-01-01"], ["D-2", "5", "2021-01-01"]]
    )
    second = _write_csv(tmp_path / "second.csv", [HEAD, ["D-1", "2", "2021-01-01"]])
    report = import_files([first, second], tmp_path / "out")
    assert [(f.imported, f.rejected) for f in report.files] == [(1, 1), (1, 0)]
    assert report.rejected_by_reason == {SUPERSEDED: 1}
    assert report.examples[0].value == f"D-1 ({second} row 2)"
    frame = _read(tmp_path / "out")
    assert frame.select("award_reference_no", "contract_amount").rows() == [
        ("D-1", 2.0),
        ("D-2", 5.0),
    ]


def test_a_second_import_into_the_same_dataset_at_once_is_refused(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "a.csv", [HEAD, ["C-1", "1", "2021-01-01"]])
    out = tmp_path / "out"
    out.mkdir()
    with import_lock(out), pytest.raises(DatasetLockedError):
        import_files([path], out)


def test_regenerating_a_dataset_forgets_the_imports_manifest(tmp_path: Path) -> None:
    generate(50, tmp_path, contractors=20)
    reference = scan_dataset(tmp_path).collect()["award_reference_no"][0]
    import_files([_write_csv(tmp_path / "a.csv", [HEAD, [reference, "1", "2021-01-01"]])], tmp_path)
    assert read_manifest(tmp_path) is not None
    generate(80, tmp_path, contractors=20, overwrite=True)
    assert read_manifest(tmp_path) is None
    assert [p.name for p in dataset_files(tmp_path)] == ["awards-00000.parquet"]
    assert scan_dataset(tmp_path).collect().height == 80


def test_what_a_crashed_import_left_behind_is_cleared(tmp_path: Path) -> None:
    stale = tmp_path / "out" / ".import-0123abcd"
    stale.mkdir(parents=True)
    (stale / "part-000000.parquet").write_bytes(b"half")
    path = _write_csv(tmp_path / "a.csv", [HEAD, ["C-1", "1", "2021-01-01"]])
    assert import_files([path], tmp_path / "out").succeeded
    assert not stale.exists()
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".import-")] == []


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    good = _write_csv(tmp_path / "good.csv", [HEAD, ["G-1", "10", "2020-01-01"]])
    report = import_files([tmp_path / "gone.xlsx", tmp_path, good], tmp_path / "out")
    assert [f.unreadable for f in report.files] == ["no such file", "not a file", None]
    assert report.rows_imported == 1
