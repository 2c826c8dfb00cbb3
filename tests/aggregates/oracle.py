"""The aggregate set and search results computed independently, in plain Python over the rows."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from conveyor.contracts.jobs import (
    AWARD_COLUMNS,
    AggregatesRequest,
    ExportRequest,
    SearchRequest,
    SortKey,
)
from tests.export.support import expected_export
from tests.support import folding

KEYWORD_COLUMNS = ("award_title", "notice_title", "awardee_name", "procuring_entity")


def filtered(
    directory: Path, request: AggregatesRequest | SearchRequest, sort: list[SortKey] | None = None
) -> list[dict[str, Any]]:
    """The rows passing the request's filters (the export tests' independent filter oracle)."""
    _, rows = expected_export(directory, ExportRequest(filters=request.filters, sort=sort or []))
    return [dict(zip(AWARD_COLUMNS, row, strict=True)) for row in rows]


def aggregates(directory: Path, request: AggregatesRequest) -> dict[str, Any]:
    rows = filtered(directory, request)
    amounts = [r["contract_amount"] for r in rows if r["contract_amount"] is not None]
    years: dict[int, list[Any]] = defaultdict(list)
    months: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        if r["award_date"] is not None:
            years[r["award_date"].year].append(r)
            months[f"{r['award_date']:%Y-%m}"].append(r)

    def total(group: list[dict[str, Any]]) -> float:
        return sum(r["contract_amount"] for r in group if r["contract_amount"] is not None)

    def top(column: str) -> list[tuple[str, float, int]]:
        groups: dict[str, list[Any]] = defaultdict(list)
        for r in rows:
            if r[column] is not None:
                groups[r[column]].append(r)
        ranked = sorted(
            ((n, total(g), len(g)) for n, g in groups.items()),
            key=lambda t: (-t[1], -t[2], folding.fold(t[0]), t[0]),
        )
        return ranked[: request.top_n]

    return {
        "count": len(rows),
        "total": sum(amounts),
        "average": statistics.fmean(amounts) if amounts else None,
        "median": statistics.median(amounts) if amounts else None,
        "by_year": [(y, total(g), len(g)) for y, g in sorted(years.items())],
        "by_month": [(m, total(g), len(g)) for m, g in sorted(months.items())],
        "top_contractors": top("awardee_name"),
        "top_organizations": top("procuring_entity"),
        "top_areas": top("area_of_delivery"),
        "top_regions": top("region"),
        "top_categories": top("business_category"),
    }


def search(directory: Path, request: SearchRequest) -> tuple[int, list[str]]:
    """(total matches, the page's award references)."""
    rows = filtered(directory, request, sort=request.sort or [SortKey(column="award_reference_no")])
    wanted = folding.terms([request.query])
    matches = [r for r in rows if folding.matches(r, wanted, KEYWORD_COLUMNS)]
    start = (request.page - 1) * request.page_size
    return len(matches), [
        r["award_reference_no"] for r in matches[start : start + request.page_size]
    ]
