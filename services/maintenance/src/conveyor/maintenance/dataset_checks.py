"""Integrity checks of the awards dataset (pure polars; run it off the event loop).

Problems found in the real PhilGEPS exports: awards dated 1920 or 2033, negative amounts,
reference numbers that appear twice, and an approved budget (ABC) below the contract amount.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from conveyor.awards.schema import AWARDS_SCHEMA, DATE_COLUMNS, MONEY_COLUMNS, dataset_files
from conveyor.contracts.events import ValidationProblem

REQUIRED_COLUMNS = (
    "award_reference_no",
    "award_title",
    "awardee_name",
    "procuring_entity",
    "contract_amount",
    "award_date",
)
"""Columns an award is useless without (filters and aggregates rely on them)."""
EARLIEST_PLAUSIBLE_DATE = dt.date(2000, 1, 1)
"""PhilGEPS started publishing in 2000: an earlier date is a typo (the exports hold 1920s)."""
LATEST_PLAUSIBLE_AHEAD = dt.timedelta(days=366)
"""A date more than a year after the check is a typo too (the exports hold 2033)."""

Progress = Callable[[int, int, str], None]


@dataclass
class DatasetReport:
    version: str
    files: int
    rows: int
    problems: list[ValidationProblem] = field(default_factory=list)

    def add(self, kind: str, count: int, examples: list[str]) -> None:
        if count:
            self.problems.append(ValidationProblem(kind=kind, count=count, examples=examples))


def check_dataset(
    directory: Path,
    *,
    version: str,
    max_examples: int,
    today: dt.date,
    progress: Progress | None = None,
) -> DatasetReport:
    """Every problem of the dataset in ``directory``, counted, with up to ``max_examples`` each."""
    files = dataset_files(directory) if directory.is_dir() else []
    report = DatasetReport(version=version, files=len(files), rows=0)
    if not files:
        report.add("dataset_missing", 1, [str(directory)])
        return report
    good = _check_files(files, report, max_examples)
    steps = 3
    if progress:
        progress(1, steps, "file schemas checked")
    if not good:
        return report
    frame = pl.scan_parquet(good, schema=AWARDS_SCHEMA)
    try:
        report.rows = _check_rows(frame, report, max_examples, today)
        if progress:
            progress(2, steps, "row checks done")
        _check_duplicates(frame, report, max_examples)
    except pl.exceptions.PolarsError as exc:
        report.add("unreadable_data", 1, [f"{type(exc).__name__}: {exc}"[:300]])
    if progress:
        progress(3, steps, "duplicates checked")
    return report


def _check_files(files: list[Path], report: DatasetReport, max_examples: int) -> list[Path]:
    """Files whose footer reads and whose columns have the expected names and types."""
    good = []
    found: dict[str, list[str]] = {"unreadable_file": [], "missing_column": [], "wrong_type": []}
    for path in files:
        try:
            schema = pl.read_parquet_schema(path)
        except Exception as exc:  # polars raises several kinds for a damaged file
            found["unreadable_file"].append(f"{path.name}: {exc}"[:300])
            continue
        missing = [name for name in AWARDS_SCHEMA if name not in schema]
        wrong = [
            f"{path.name}: {name} is {schema[name]}, expected {dtype}"
            for name, dtype in AWARDS_SCHEMA.items()
            if name in schema and schema[name] != dtype
        ]
        found["missing_column"] += [f"{path.name}: {name}" for name in missing]
        found["wrong_type"] += wrong
        if not missing and not wrong:
            good.append(path)
    for kind, items in found.items():
        report.add(kind, len(items), items[:max_examples])
    return good


def _row_checks(today: dt.date) -> dict[str, tuple[pl.Expr, pl.Expr]]:
    """Problem kind -> (flag per row, what an example shows about the row)."""
    latest = today + LATEST_PLAUSIBLE_AHEAD
    checks: dict[str, tuple[pl.Expr, pl.Expr]] = {}
    for name in REQUIRED_COLUMNS:
        checks[f"null_{name}"] = (pl.col(name).is_null(), pl.lit(f"{name} is empty"))
    negative = pl.any_horizontal(pl.col(c) < 0 for c in MONEY_COLUMNS)
    checks["negative_amount"] = (
        negative.fill_null(False),
        pl.format("approved_budget {}, contract_amount {}", *MONEY_COLUMNS),
    )
    for name in DATE_COLUMNS:
        outside = (pl.col(name) < EARLIEST_PLAUSIBLE_DATE) | (pl.col(name) > latest)
        checks[f"implausible_{name}"] = (outside.fill_null(False), pl.format(f"{name} {{}}", name))
    below = pl.col("approved_budget") < pl.col("contract_amount")
    checks["budget_below_contract"] = (
        below.fill_null(False),
        pl.format("approved_budget {} < contract_amount {}", *MONEY_COLUMNS),
    )
    return checks


def _label(detail: pl.Expr) -> pl.Expr:
    ref = pl.col("award_reference_no").fill_null(pl.format("row {}", pl.col("_row")))
    return pl.format("{}: {}", ref, detail)


def _check_rows(
    frame: pl.LazyFrame, report: DatasetReport, max_examples: int, today: dt.date
) -> int:
    checks = _row_checks(today)
    counted = frame.select(
        pl.len().alias("_rows"),
        *(flag.sum().alias(kind) for kind, (flag, _) in checks.items()),
    ).collect()
    rows = int(counted["_rows"][0])
    indexed = frame.with_row_index("_row")
    for kind, (flag, detail) in checks.items():
        count = int(counted[kind][0] or 0)
        examples: list[str] = []
        if count and max_examples:
            shown = indexed.filter(flag).select(_label(detail).alias("x")).head(max_examples)
            examples = shown.collect()["x"].to_list()
        report.add(kind, count, examples)
    return rows


def _check_duplicates(frame: pl.LazyFrame, report: DatasetReport, max_examples: int) -> None:
    dupes = (
        frame.filter(pl.col("award_reference_no").is_not_null())
        .group_by("award_reference_no")
        .agg(pl.len().alias("n"))
        .filter(pl.col("n") > 1)
        .sort("n", "award_reference_no", descending=[True, False])
        .collect()
    )
    rows = int(dupes["n"].sum()) if dupes.height else 0
    examples = [f"{ref}: {n} rows" for ref, n in dupes.head(max_examples).iter_rows()]
    report.add("duplicate_award_reference_no", rows, examples)
