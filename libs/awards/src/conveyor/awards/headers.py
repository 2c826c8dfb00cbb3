"""The historical header spellings of public award exports, mapped to the dataset's columns."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from conveyor.contracts.jobs import AWARD_COLUMNS

# Spellings seen in the public exports over the years (and our own snake_case names, which
# normalise to the same words). Matching is on ``normalize_header``, so case, punctuation,
# spacing, "Ref"/"Reference", "Number"/"No" and a "(PHP)" suffix do not matter.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "award_reference_no": (
        "Award Reference No.",
        "Award Ref No",
        "Award Reference Number",
        "Award No.",
        "Award ID",
    ),
    "bid_reference_no": (
        "Bid Reference No.",
        "Bid Ref No",
        "Reference No.",
        "Reference Number",
        "Bid Notice Reference No.",
        "Ref ID",
    ),
    "award_title": ("Award Title", "Contract Title", "Contract Name"),
    "notice_title": ("Notice Title", "Bid Notice Title", "Tender Title", "Title"),
    "awardee_name": (
        "Awardee Name",
        "Awardee",
        "Supplier Name",
        "Supplier",
        "Contractor",
        "Contractor Name",
        "Winning Bidder",
    ),
    "procuring_entity": (
        "Organization Name",
        "Organization",
        "Procuring Entity",
        "Procuring Entity Name",
        "Agency",
        "Agency Name",
    ),
    "region": ("Region", "Region of Delivery"),
    "area_of_delivery": ("Area of Delivery", "Delivery Area", "Place of Delivery", "Province"),
    "business_category": ("Business Category", "Category", "Category Name"),
    "classification": ("Classification", "Procurement Classification"),
    "procurement_mode": (
        "Procurement Mode",
        "Mode of Procurement",
        "Procurement Method",
        "Mode",
    ),
    "funding_source": ("Funding Source", "Source of Funds", "Fund Source"),
    "approved_budget": (
        "ABC",
        "Approved Budget for the Contract",
        "Approved Budget of the Contract",
        "Approved Budget",
        "Budget",
    ),
    "contract_amount": (
        "Contract Amount",
        "Awarded Amount",
        "Award Amount",
        "Contract Price",
        "Amount",
    ),
    "published_date": (
        "Publish Date",
        "Published Date",
        "Publication Date",
        "Date Published",
    ),
    "award_date": ("Award Date", "Date Awarded", "Date of Award", "Awarded Date"),
    "award_status": ("Award Status", "Status", "Contract Status"),
}

_TOKEN_SYNONYMS = {"ref": "reference", "number": "no", "num": "no", "nos": "no"}
_DROPPED_TOKENS = frozenset({"php", "peso", "pesos"})
_SEPARATORS = re.compile(r"[\s.,;:()\[\]/\\_#'\"-]+")


def normalize_header(header: str) -> str:
    """``header`` folded for matching: "Award Ref. No." and "award_reference_no" both give
    "award reference no"."""
    text = unicodedata.normalize("NFKC", header).replace("\ufeff", "").casefold()
    text = text.replace("&", " and ").replace("₱", " ")
    tokens = (_TOKEN_SYNONYMS.get(t, t) for t in _SEPARATORS.split(text) if t)
    return " ".join(t for t in tokens if t not in _DROPPED_TOKENS)


def _build_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for column in AWARD_COLUMNS:
        for spelling in (column, *HEADER_ALIASES.get(column, ())):
            key = normalize_header(spelling)
            if table.setdefault(key, column) != column:
                raise AssertionError(f"header {spelling!r} maps to two columns")
    return table


HEADER_TABLE: dict[str, str] = _build_table()
"""Normalised header -> dataset column."""


def column_for(header: str) -> str | None:
    """The dataset column a file header stands for, or None when it is not one we know."""
    return HEADER_TABLE.get(normalize_header(header))


def map_headers(headers: Sequence[str | None]) -> tuple[dict[int, str], list[str]]:
    """Position -> dataset column for the headers we know (the first of two spellings of one
    column wins), and the headers left unused."""
    mapping: dict[int, str] = {}
    unused: list[str] = []
    for position, header in enumerate(headers):
        column = column_for(header) if header else None
        if column is None or column in mapping.values():
            if header:
                unused.append(header)
            continue
        mapping[position] = column
    return mapping, unused


MIN_HEADER_MATCHES = 3
"""A row is the header row when at least this many of its cells are known headers."""


def find_header_row(rows: Iterable[Sequence[object]]) -> int | None:
    """The index of the first row that looks like the header (exports sometimes put a title
    and a blank line above it), or None."""
    for index, row in enumerate(rows):
        known = {column_for(str(cell)) for cell in row if cell is not None and str(cell).strip()}
        known.discard(None)
        if len(known) >= MIN_HEADER_MATCHES:
            return index
    return None
