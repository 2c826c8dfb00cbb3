"""Tests of matching award file headers in their historical spellings."""

from __future__ import annotations

import pytest

from conveyor.awards.headers import (
    HEADER_ALIASES,
    column_for,
    find_header_row,
    map_headers,
    normalize_header,
)
from conveyor.contracts.jobs import AWARD_COLUMNS


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("Award Reference No.", "award_reference_no"),
        ("Award Ref No", "award_reference_no"),
        ("award_ref_no", "award_reference_no"),
        ("  AWARD   REFERENCE  NUMBER ", "award_reference_no"),
        ("\ufeffAward Ref. No.", "award_reference_no"),
        ("Organization Name", "procuring_entity"),
        ("Procuring Entity", "procuring_entity"),
        ("Awardee Name", "awardee_name"),
        ("Supplier Name", "awardee_name"),
        ("Contractor", "awardee_name"),
        ("Area of Delivery", "area_of_delivery"),
        ("Delivery Area", "area_of_delivery"),
        ("Business Category", "business_category"),
        ("Category", "business_category"),
        ("Contract Amount", "contract_amount"),
        ("Awarded Amount", "contract_amount"),
        ("Contract Amount (PHP)", "contract_amount"),
        ("ABC", "approved_budget"),
        ("Approved Budget for the Contract", "approved_budget"),
        ("Award Date", "award_date"),
        ("Date Awarded", "award_date"),
        ("Publish Date", "published_date"),
        ("Published Date", "published_date"),
        ("Mode of Procurement", "procurement_mode"),
    ],
)
def test_historical_spellings_map_to_columns(header: str, column: str) -> None:
    assert column_for(header) == column


def test_every_column_matches_its_own_snake_case_name() -> None:
    assert all(column_for(c) == c for c in AWARD_COLUMNS)
    assert set(HEADER_ALIASES) == set(AWARD_COLUMNS)


def test_unknown_headers_map_to_nothing() -> None:
    assert column_for("Remarks") is None
    assert column_for("") is None


def test_normalisation_folds_case_punctuation_and_synonyms() -> None:
    assert normalize_header("Award Ref. No.") == "award reference no"
    assert normalize_header("Supplies & Materials") == "supplies and materials"


def test_the_first_spelling_of_a_column_wins() -> None:
    mapping, unused = map_headers(["Award Date", "Notes", None, "Date Awarded", "Contractor"])
    assert mapping == {0: "award_date", 4: "awardee_name"}
    assert unused == ["Notes", "Date Awarded"]


def test_the_header_row_is_found_below_a_title() -> None:
    rows: list[list[str | None]] = [
        ["Awards 2016"],
        [None, None],
        ["Award Ref No", "Contractor", "Award Date"],
        ["1"],
    ]
    assert find_header_row(rows) == 2
    assert find_header_row([["a", "b", "c"]]) is None
