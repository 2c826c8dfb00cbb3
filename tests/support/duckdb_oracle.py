"""An edge-case awards dataset, random filters over it, and the documented answers in DuckDB SQL.

The SQL is written from docs/filters.md alone, with DuckDB's own text folding
(``strip_accents(lower(x))``, whitespace collapsed by RE2) and its own median, grouping and
ordering, so it shares no code with the polars implementation it checks.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from hypothesis import strategies as st

from conveyor.awards.schema import AWARDS_SCHEMA, conform, data_file_name
from conveyor.contracts.jobs import AwardFilters, DateRange, SortKey, ValueRange

# -- the dataset -----------------------------------------------------------------------------

NAMES = (
    "Ordoñez Construction",
    "ORDONEZ CONSTRUCTION",
    "ordonez construction",
    "Ñiño & Peña Builders",
    "Nino & Pena Builders",
    "École Supply",
    "ecole supply",
    "ΟΔΟΣ Works",
    "Straße Trading",
    "Spaced   Name  Inc",
    "Tab\tName Corp",
    "No\u00a0Break Enterprises",
    'O"Brien Sons',
    "50% Off [.*] Supply",
    "Alpha",
    "alpha",
    "Beta",
)
WORDS = (
    "canal",
    "Drainage",
    "CANAL",
    "réhabilitation",
    "rehabilitation",
    "road",
    "Road",
    "école",
    "niño",
    "Señor",
    "ΟΔΟΣ",
    "οδος",
    "supply",
    "of",
    "'s",
    "50%",
    ".*",
)
SPACES = (" ", " ", " ", "  ", "\t", "\n", "\u00a0", " \u00a0 ")
AREAS = ("Metro Manila", "Leyte", "Cebu", "Parañaque", "Las Piñas", "Samar")
REGIONS = ("NCR", "Region VII", "Region VIII", "Región Ñ")
CATEGORIES = ("Civil Works", "civil works", "Goods", "Consulting")
DATES = (
    dt.date(2016, 1, 1),
    dt.date(2019, 12, 31),
    dt.date(2020, 1, 1),
    dt.date(2020, 2, 29),
    dt.date(2020, 3, 1),
    dt.date(2024, 12, 31),
)
AMOUNTS = (0.0, 100.0, 250.25, 1000.0, 5000.5, 99_999.75, 1_000_000.0)
"""Multiples of 1/4: sums are exact in any order, so equal totals really tie."""


def _maybe(rng: random.Random, values: Sequence[Any], null: float = 0.1) -> Any:
    return None if rng.random() < null else rng.choice(values)


def _text(rng: random.Random, words: int) -> str:
    parts = [rng.choice(WORDS) for _ in range(words)]
    text = "".join(w + rng.choice(SPACES) for w in parts).rstrip(" ")
    return rng.choice(("", " ", "\t")) + text


def awards_frame(rows: int = 1200, seed: int = 16) -> pl.DataFrame:
    """Awards drawn with many ties, accents, odd whitespace, nulls and boundary values."""
    rng = random.Random(seed)
    data = [
        {
            "award_reference_no": f"REF-{rng.randrange(10**6):06d}-{i:05d}",
            "award_title": None if rng.random() < 0.05 else _text(rng, rng.randint(1, 5)),
            "notice_title": None if rng.random() < 0.3 else _text(rng, rng.randint(1, 3)),
            "awardee_name": _maybe(rng, NAMES),
            "procuring_entity": _maybe(rng, NAMES[::-1]),
            "region": _maybe(rng, REGIONS),
            "area_of_delivery": _maybe(rng, AREAS),
            "business_category": _maybe(rng, CATEGORIES),
            "contract_amount": _maybe(rng, AMOUNTS, null=0.15),
            "award_date": _maybe(rng, DATES),
        }
        for i in range(rows)
    ]
    return conform(pl.DataFrame(data, schema_overrides=dict(AWARDS_SCHEMA)))


def write_dataset(directory: Path, frame: pl.DataFrame, files: int = 3) -> list[Path]:
    """``frame`` as the dataset's parquet files, in order (dataset order = frame order)."""
    directory.mkdir(parents=True, exist_ok=True)
    size = -(-frame.height // files)
    paths = []
    for index in range(files):
        path = directory / data_file_name(index)
        frame.slice(index * size, size).write_parquet(path)
        paths.append(path)
    return paths


# -- random requests -------------------------------------------------------------------------


@st.composite
def _keyword(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=2))
    spaces = draw(st.lists(st.sampled_from(SPACES), min_size=len(words), max_size=len(words)))
    text = "".join(w + s for w, s in zip(words, spaces, strict=True))
    case = draw(st.sampled_from((str, str.upper, str.lower, str.title)))
    return f'"{case(text)}"' if draw(st.booleans()) and len(words) > 1 else case(text)


def _ranges() -> st.SearchStrategy[list[DateRange]]:
    day = st.sampled_from(DATES)
    one = st.tuples(day, day).map(lambda d: DateRange(start=min(d), end=max(d)))
    return st.lists(one, max_size=2)


@st.composite
def _value_range(draw: st.DrawFn) -> ValueRange | None:
    if draw(st.booleans()):
        return None
    low, high = (draw(st.none() | st.sampled_from(AMOUNTS)) for _ in range(2))
    if low is not None and high is not None:
        low, high = min(low, high), max(low, high)
    return ValueRange(min=low, max=high)


def _mostly_unset(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Empty two times in three: several filters at once rarely leave a row."""
    return st.one_of(st.just([]), st.just([]), strategy)


def filters() -> st.SearchStrategy[AwardFilters]:
    """Random filters: present and absent names, place names of both kinds, keywords..."""
    names = st.lists(st.sampled_from((*NAMES, "Nobody")), min_size=1, max_size=4)
    return st.builds(
        AwardFilters,
        contractors=_mostly_unset(names),
        organizations=_mostly_unset(names),
        areas=_mostly_unset(st.lists(st.sampled_from((*AREAS, *REGIONS)), min_size=1, max_size=3)),
        business_categories=_mostly_unset(st.lists(st.sampled_from(CATEGORIES), min_size=1)),
        keywords=_mostly_unset(st.lists(_keyword(), min_size=1, max_size=2)),
        time_ranges=_mostly_unset(_ranges()),
        value_range=_value_range(),
    )


def queries() -> st.SearchStrategy[str]:
    return st.lists(_keyword(), max_size=3).map(" ".join)


SORTABLE = ("contract_amount", "award_date", "awardee_name", "region", "award_title")


def sort_keys(min_size: int = 0) -> st.SearchStrategy[list[SortKey]]:
    key = st.builds(SortKey, column=st.sampled_from(SORTABLE), descending=st.booleans())
    return st.lists(key, min_size=min_size, max_size=2)


# -- the oracle ------------------------------------------------------------------------------

_FOLD = (
    "CREATE MACRO fold(x) AS trim(regexp_replace("
    "replace(strip_accents(lower(x)), '\u03c2', '\u03c3'), '[\\s\\x{00A0}]+', ' ', 'g'))"
)
_KEYWORD_COLUMNS = ("award_title", "notice_title", "awardee_name", "procuring_entity")


class Oracle:
    """The dataset's files in DuckDB, answering requests with SQL."""

    def __init__(self, files: Sequence[Path]) -> None:
        self.con = duckdb.connect()
        self.con.execute(_FOLD)
        # Dataset order: file by file, row by row.
        self.con.execute(
            "CREATE TABLE awards AS SELECT *, "
            "row_number() OVER (ORDER BY filename, file_row_number) AS position "
            "FROM read_parquet(?, filename = true, file_row_number = true)",
            [[str(f) for f in files]],
        )

    def terms(self, texts: Sequence[str]) -> list[str]:
        found: list[str] = []
        for text in texts:
            [(folded,)] = self.con.execute("SELECT fold(?)", [text]).fetchall()
            found += [w or p.strip() for p, w in re.findall(r'"([^"]*)"?|([^ ]+)', folded)]
        return list(dict.fromkeys(t for t in found if t))

    def where(self, f: AwardFilters, query: str = "") -> tuple[str, list[Any]]:
        sql, params = ["TRUE"], []
        for column, values in (
            ("awardee_name", f.contractors),
            ("procuring_entity", f.organizations),
            ("business_category", f.business_categories),
        ):
            if values:
                sql.append(f"list_contains(?, {column})")
                params.append(values)
        if f.areas:
            sql.append("(list_contains(?, area_of_delivery) OR list_contains(?, region))")
            params += [f.areas, f.areas]
        for term in self.terms([*f.keywords, query]):
            sql.append("(" + " OR ".join(f"contains(fold({c}), ?)" for c in _KEYWORD_COLUMNS) + ")")
            params += [term] * len(_KEYWORD_COLUMNS)
        if f.time_ranges:
            sql.append("(" + " OR ".join("award_date BETWEEN ? AND ?" for _ in f.time_ranges) + ")")
            params += [d for r in f.time_ranges for d in (r.start, r.end)]
        if f.value_range is not None and f.value_range.min is not None:
            sql.append("contract_amount >= ?")
            params.append(f.value_range.min)
        if f.value_range is not None and f.value_range.max is not None:
            sql.append("contract_amount <= ?")
            params.append(f.value_range.max)
        return " AND ".join(f"coalesce({s}, FALSE)" for s in sql), params

    def references(
        self, f: AwardFilters, query: str = "", order: str = "award_reference_no"
    ) -> list[str]:
        where, params = self.where(f, query)
        rows = self.con.execute(
            f"SELECT award_reference_no FROM awards WHERE {where} ORDER BY {order}", params
        ).fetchall()
        return [r[0] for r in rows]

    @staticmethod
    def order_by(keys: Sequence[SortKey]) -> str:
        seen: dict[str, bool] = {}
        for k in keys:
            seen.setdefault(k.column, k.descending)
        seen.setdefault("award_reference_no", False)
        return ", ".join(f"{c} {'DESC' if d else 'ASC'} NULLS LAST" for c, d in seen.items())

    def aggregates(self, f: AwardFilters, top_n: int) -> dict[str, Any]:
        where, params = self.where(f)
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE picked AS SELECT * FROM awards WHERE {where}", params
        )
        q = self.con.execute
        [summary] = q(
            "SELECT count(*), coalesce(sum(contract_amount), 0), avg(contract_amount), "
            "median(contract_amount) FROM picked"
        ).fetchall()
        dated = "FROM picked WHERE award_date IS NOT NULL GROUP BY 1 ORDER BY 1"
        totals = "coalesce(sum(contract_amount), 0), count(*)"
        result: dict[str, Any] = {
            "summary": summary,
            "by_year": q(f"SELECT year(award_date), {totals} {dated}").fetchall(),
            "by_month": q(f"SELECT strftime(award_date, '%Y-%m'), {totals} {dated}").fetchall(),
        }
        for field, column in TOP_COLUMNS.items():
            result[field] = q(
                f"SELECT {column}, coalesce(sum(contract_amount), 0) AS total, count(*) AS n "
                "FROM picked "
                f"WHERE {column} IS NOT NULL GROUP BY {column} "
                f"ORDER BY total DESC, n DESC, fold({column}), {column} LIMIT {top_n}"
            ).fetchall()
        return result


TOP_COLUMNS = {
    "top_contractors": "awardee_name",
    "top_organizations": "procuring_entity",
    "top_areas": "area_of_delivery",
    "top_regions": "region",
    "top_categories": "business_category",
}
