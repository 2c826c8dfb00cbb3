"""Showing a finished job's result: one line for event streams, tables for ``jobs result``."""

from __future__ import annotations

from typing import Any

import msgspec

from conveyor.cli._tables import console, print_table
from conveyor.contracts.award_results import AggregatesResult, GroupTotal, SearchResult
from conveyor.contracts.jobs import (
    AnyJobResult,
    CachedResult,
    DiagnosticsResult,
    FileResult,
    MaintenanceReport,
)


def money(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def size(n: int) -> str:
    amount = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{amount:,.0f} {unit}" if unit == "B" else f"{amount:,.1f} {unit}"
        amount /= 1000
    raise AssertionError("unreachable")


def inline_result(raw: Any) -> AnyJobResult | None:
    """A job record's or event's ``result`` as its contract type (``None`` if absent or
    of a kind this CLI does not know yet)."""
    if raw is None:
        return None
    try:
        result: AnyJobResult = msgspec.convert(raw, AnyJobResult)
    except msgspec.ValidationError:
        return None
    return result


def summarize(job_id: str, raw: Any) -> str:
    """One line saying what a job produced, and how to get at it; never a raw JSON dump."""
    match inline_result(raw):
        case DiagnosticsResult(sum=total):
            return f"sum {total:g}"
        case FileResult(filename=name, rows=rows, size_bytes=nbytes):
            return f"{name}, {rows:,} rows, {size(nbytes)}: conveyor jobs download {job_id}"
        case CachedResult():
            return f"result ready: conveyor jobs result {job_id}"
        case MaintenanceReport(counts=counts):
            return ", ".join(f"{k} {v:,}" for k, v in counts.items()) or "done"
        case None:
            return "" if raw is None else f"result: conveyor jobs result {job_id}"


def print_result(job_id: str, job_type: str, payload: Any) -> None:
    """Tables for a result payload: the /result document of aggregates and search jobs, or a
    record's inline result for the others."""
    if job_type == "aggregates":
        _print_aggregates(msgspec.convert(payload, AggregatesResult))
    elif job_type == "search":
        _print_search(msgspec.convert(payload, SearchResult))
    else:
        _print_inline(job_id, inline_result(payload), payload)


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False)


def _print_aggregates(result: AggregatesResult) -> None:
    s = result.summary
    _say(
        f"{s.count:,} awards, total {money(s.total)}, average {money(s.average) or '-'}, "
        f"median {money(s.median) or '-'} (dataset {result.dataset_version})"
    )
    print_table(
        "By year",
        ("year", "total", "count"),
        [(y.year, money(y.total), f"{y.count:,}") for y in result.by_year],
    )
    tops: list[tuple[str, list[GroupTotal]]] = [
        ("Top contractors", result.top_contractors),
        ("Top organizations", result.top_organizations),
        ("Top areas", result.top_areas),
        ("Top business categories", result.top_categories),
    ]
    for title, groups in tops:
        rows = [(g.name, money(g.total), f"{g.count:,}") for g in groups]
        print_table(title, ("name", "total", "count"), rows)
    if result.by_month:
        _say(f"{len(result.by_month)} months as well: --json shows them")


def _print_search(result: SearchResult) -> None:
    pages = max(1, -(-result.total // result.page_size))
    _say(
        f"{result.total:,} matches; page {result.page} of {pages:,} "
        f"({result.page_size} per page, dataset {result.dataset_version})"
    )
    rows = [
        (
            a.award_reference_no,
            a.award_title,
            a.awardee_name,
            a.procuring_entity,
            money(a.contract_amount),
            a.award_date,
        )
        for a in result.awards
    ]
    columns = ("reference", "title", "awardee", "procuring entity", "amount", "date")
    print_table("Awards", columns, rows)


def _print_inline(job_id: str, result: AnyJobResult | None, raw: Any) -> None:
    match result:
        case DiagnosticsResult(sum=total, attempt=attempt):
            _say(f"sum {total:g} (attempt {attempt})")
        case FileResult() as file:
            rows = [
                ("file", file.filename),
                ("rows", f"{file.rows:,}"),
                ("size", size(file.size_bytes)),
                ("type", file.media_type),
                ("expires", file.expires_at.isoformat()),
                ("download", f"conveyor jobs download {job_id}"),
            ]
            print_table("Export", ("", ""), rows)
        case MaintenanceReport() as report:
            print_table(
                "Counts", ("item", "count"), [(k, f"{v:,}") for k, v in report.counts.items()]
            )
            for key, value in report.details.items():
                _say(f"{key}: {value}")
            for key, examples in report.examples.items():
                _say(f"{key}, e.g. " + "; ".join(examples))
        case CachedResult():
            _say(f"stored apart: conveyor jobs result {job_id}")
        case None:
            _say("no result" if raw is None else msgspec.json.encode(raw).decode())
