"""What the CLI shows of a job's result: one-line summaries for event lines, and tables whose
ids stay whole however narrow the terminal (rich's recorded console stands in for it)."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from conveyor.cli import _results, _tables
from conveyor.cli._results import print_result, size, summarize

FILE = {
    "type": "file",
    "filename": "awards.xlsx",
    "path": "exports/j1/awards.xlsx",
    "media_type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "size_bytes": 2_345_678,
    "rows": 12_345,
    "expires_at": "2026-12-05T10:00:00Z",
    "attempt": 1,
}


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        ({"type": "diagnostics", "sum": 6.0, "attempt": 1}, "sum 6"),
        (FILE, "awards.xlsx, 12,345 rows, 2.3 MB: conveyor jobs download j1"),
        (
            {"type": "cached", "key": "result:x", "cache_hit": True},
            "result ready: conveyor jobs result j1",
        ),
        ({"type": "maintenance", "counts": {"removed": 3, "kept": 1200}}, "removed 3, kept 1,200"),
        ({"type": "maintenance"}, "done"),
        ({"type": "from-a-newer-worker", "x": 1}, "result: conveyor jobs result j1"),
        (None, ""),
    ],
)
def test_a_result_is_summed_up_in_one_line_never_as_json(raw: Any, line: str) -> None:
    assert summarize("j1", raw) == line


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 B"), (999, "999 B"), (1_500, "1.5 kB"), (3 * 10**9, "3.0 GB")]
)
def test_sizes_are_in_decimal_units(n: int, text: str) -> None:
    assert size(n) == text


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch) -> Console:
    """A 60-column terminal that records what is printed."""
    recorded = Console(width=60, record=True, force_terminal=False)
    monkeypatch.setattr(_tables, "console", recorded)
    monkeypatch.setattr(_results, "console", recorded)
    return recorded


def test_ids_in_a_narrow_table_stay_whole_on_one_line(screen: Console) -> None:
    job_id = "0123456789abcdef0123456789abcdef"
    _tables.print_table(
        "Jobs",
        ("job id", "type", "owner", "state", "progress", "created"),
        [
            (
                job_id,
                "maintenance.compute_daily_statistics",
                "scheduler",
                "succeeded",
                "",
                "2026-12-04T13:00:00Z",
            )
        ],
    )
    text = screen.export_text()
    assert any(job_id in line for line in text.splitlines()), text


def test_an_export_result_shows_its_file_and_how_to_download_it(screen: Console) -> None:
    print_result("j1", "export", FILE)
    text = screen.export_text()
    assert "awards.xlsx" in text and "12,345" in text and "2.3 MB" in text
    assert "conveyor jobs download j1" in text


def test_a_maintenance_report_shows_counts_details_and_examples(screen: Console) -> None:
    report = {
        "type": "maintenance",
        "counts": {"duplicate_reference": 2},
        "examples": {"duplicate_reference": ["A-1", "A-2"]},
        "details": {"version": "v7"},
    }
    print_result("j2", "maintenance.validate_dataset", report)
    text = screen.export_text()
    assert "duplicate_reference" in text and "version: v7" in text
    assert "duplicate_reference, e.g. A-1; A-2" in text
