"""Deterministic, real-shaped synthetic awards, generated chunk by chunk in constant memory."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from conveyor.awards import vocabulary as vocab
from conveyor.awards.contractors import contractor_names, zipf_weights
from conveyor.awards.manifest import remove_manifest
from conveyor.awards.marginals_data import Marginals, load_marginals
from conveyor.awards.regions import region_of
from conveyor.awards.schema import (
    commit_files,
    data_file_name,
    dataset_files,
    dataset_version,
    stored_files,
    temporary_name,
)

DEFAULT_CHUNK_ROWS = 500_000
"""Rows per file; two chunks are in memory at once (about 650 MB peak at this size)."""
DEFAULT_CONTRACTORS = 40_000
FIRST_DAY = dt.date(2013, 1, 1)
LAST_DAY = dt.date(2025, 12, 31)
AMOUNT_SIGMA = 1.1
"""Log-normal spread of contract amounts around each category's real average."""
MIN_AMOUNT = 500.0

_EPOCH = dt.date(1970, 1, 1)
# Odd and not a multiple of 5, so ``row * M + offset`` is a permutation of 0..10**k - 1:
# references are unique and look unordered without keeping a set of the used ones.
_AWARD_REF_MULTIPLIER = 7_919_591
_AWARD_REF_MODULUS = 10**10
_BID_REF_MULTIPLIER = 3_571_429
_BID_REF_MODULUS = 10**8
_LOTS = 6
"""Lot suffix choices in notice titles: none, or Lot 1 to Lot 5."""


@dataclass(frozen=True, slots=True)
class GenerationReport:
    """What ``generate`` wrote."""

    rows: int
    files: list[Path]
    seconds: float
    seed: int
    version: str = field(default="")

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


class DatasetExistsError(Exception):
    """The output directory already holds a dataset and overwriting was not asked for."""

    def __init__(self, directory: Path, files: int) -> None:
        super().__init__(f"{directory} already holds {files} awards file(s)")
        self.directory = directory
        self.files = files


def generate(
    rows: int,
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    marginals: Marginals | None = None,
    marginals_dir: str | os.PathLike[str] | None = None,
    contractors: int = DEFAULT_CONTRACTORS,
    overwrite: bool = False,
) -> GenerationReport:
    """Write ``rows`` synthetic awards into ``out_dir`` as ``awards-00000.parquet``, ...

    The same ``seed``, ``chunk_rows`` and marginals give byte-identical files. At most two
    chunks are in memory at a time (one generated, one being written). Files are written
    under temporary names and renamed only when all are complete, so a failed run leaves the
    directory as it was. The data is clean (no nulls, unique references, amounts and dates in
    range); validation tests plant problems.
    """
    if rows < 0:
        raise ValueError("rows must not be negative")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be positive")
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    existing = dataset_files(out)
    if existing and not overwrite:
        raise DatasetExistsError(out, len(existing))

    tables = _Tables.build(
        marginals if marginals is not None else load_marginals(marginals_dir), seed, contractors
    )
    written: list[tuple[Path, Path]] = []
    # One writer thread: chunk k is compressed and written (polars releases the GIL) while
    # chunk k+1 is generated, so at most two chunks are in memory at once.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="awards-writer") as writer:
        pending: Future[None] | None = None
        try:
            # At least one file, so an empty dataset still carries its schema.
            starts = range(0, rows, chunk_rows) if rows else range(1)
            for index, start in enumerate(starts):
                frame = _chunk(tables, seed, index, start, min(chunk_rows, rows - start))
                final = out / data_file_name(index)
                written.append((temporary_name(final), final))
                if pending is not None:
                    pending.result()
                pending = writer.submit(_write, frame, written[-1][0])
                del frame
            if pending is not None:
                pending.result()
        except BaseException:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    pending.result()
            for tmp, _ in written:
                tmp.unlink(missing_ok=True)
            raise
    commit_files(written)
    # Old files past the new last index go after the new ones are in place, so readers see
    # a complete dataset throughout (briefly with extra old files, never with a gap). An
    # import's manifest goes too: the new files are the whole dataset now.
    remove_manifest(out)
    replaced = {final for _, final in written}
    for stale in stored_files(out):
        if stale not in replaced:
            stale.unlink(missing_ok=True)
    return GenerationReport(
        rows=rows,
        files=[final for _, final in written],
        seconds=time.perf_counter() - started,
        seed=seed,
        version=dataset_version(out),
    )


# -- tables drawn from ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Choice:
    """Values with a cumulative distribution, sampled by inverse transform."""

    values: pl.Series
    cdf: np.ndarray

    @classmethod
    def of(cls, values: list[str] | pl.Series, weights: np.ndarray | list[float]) -> _Choice:
        return cls(pl.Series(values, dtype=pl.String), _cdf(weights))

    @classmethod
    def of_pairs(cls, pairs: tuple[tuple[str, float], ...]) -> _Choice:
        return cls.of([v for v, _ in pairs], [w for _, w in pairs])

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return _draw(self.cdf, rng, n)


def _cdf(weights: np.ndarray | list[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0  # rounding must not leave a gap above the last value
    return cdf


def _draw(cdf: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.uint32)


@dataclass(frozen=True, slots=True)
class _Tables:
    areas: _Choice
    area_regions: pl.Series
    categories: _Choice
    category_mu: np.ndarray
    category_classification: pl.Series
    # Title parts are precomputed combinations, so a chunk's titles are one gather and one
    # two-column concatenation each instead of a six-column concatenation.
    subjects: pl.Series
    """"<verb> <item>" for every category's verbs x items, category by category."""
    subject_offset: np.ndarray
    subject_count: np.ndarray
    places: pl.Series
    """" at Brgy. <barangay>, <area>" at ``area * len(BARANGAYS) + barangay``."""
    notice_suffixes: pl.Series
    """" for <office> CY <year>[ - Lot <n>]" at ``(office * years + year) * 6 + lot``."""
    organizations: _Choice
    contractors: _Choice
    modes: pl.Series
    modes_small_cdf: np.ndarray
    modes_large_cdf: np.ndarray
    funding: _Choice
    statuses: _Choice
    day_cdf: np.ndarray
    day_values: np.ndarray

    @classmethod
    def build(cls, m: Marginals, seed: int, contractors: int) -> _Tables:
        area_names = m.areas["entity"].to_list()
        categories = m.categories["entity"].to_list()
        subjects = [
            [f"{verb} {item}" for verb in verbs for item in items]
            for verbs, items in (vocab.category_kind(c) for c in categories)
        ]
        subject_counts = np.array([len(s) for s in subjects], dtype=np.int64)
        averages = m.categories["average_contract_value"].to_numpy()
        day_values, day_weights = _day_table()
        lots = ["", *(f" - Lot {n}" for n in range(1, _LOTS))]
        return cls(
            areas=_Choice.of(area_names, m.areas["contract_count"].to_numpy()),
            area_regions=pl.Series([region_of(a) for a in area_names], dtype=pl.String),
            categories=_Choice.of(categories, m.categories["contract_count"].to_numpy()),
            # mu such that the log-normal's mean is the category's real average.
            category_mu=np.log(averages) - AMOUNT_SIGMA**2 / 2,
            category_classification=pl.Series(
                [vocab.classification_of(c) for c in categories], dtype=pl.String
            ),
            subjects=pl.Series([s for per in subjects for s in per], dtype=pl.String),
            subject_offset=np.concatenate(([0], np.cumsum(subject_counts)[:-1])),
            subject_count=subject_counts,
            places=pl.Series(
                [f" at Brgy. {b}, {a}" for a in area_names for b in vocab.BARANGAYS],
                dtype=pl.String,
            ),
            notice_suffixes=pl.Series(
                [
                    f" for {office} CY {year}{lot}"
                    for office in vocab.OFFICES
                    for year in range(FIRST_DAY.year, LAST_DAY.year + 1)
                    for lot in lots
                ],
                dtype=pl.String,
            ),
            organizations=_Choice.of(
                m.organizations["entity"], m.organizations["contract_count"].to_numpy()
            ),
            contractors=_Choice.of(contractor_names(contractors, seed), zipf_weights(contractors)),
            # Small-contract modes first, then the large-contract ones (indices offset).
            modes=pl.Series(
                [m for m, _ in (*vocab.PROCUREMENT_MODES_SMALL, *vocab.PROCUREMENT_MODES_LARGE)],
                dtype=pl.String,
            ),
            modes_small_cdf=_cdf([w for _, w in vocab.PROCUREMENT_MODES_SMALL]),
            modes_large_cdf=_cdf([w for _, w in vocab.PROCUREMENT_MODES_LARGE]),
            funding=_Choice.of_pairs(vocab.FUNDING_SOURCES),
            statuses=_Choice.of_pairs(vocab.AWARD_STATUSES),
            day_cdf=_cdf(day_weights),
            day_values=day_values,
        )


def _day_table() -> tuple[np.ndarray, np.ndarray]:
    """Every day 2013-2025 (days since 1970) and its weight: more awards in later years,
    a December rush (budget year end), a slow January and quiet weekends."""
    first = (FIRST_DAY - _EPOCH).days
    days = np.arange(first, (LAST_DAY - _EPOCH).days + 1, dtype=np.int64)
    as_dates = days.astype("datetime64[D]")
    years = as_dates.astype("datetime64[Y]").astype(np.int64) + 1970
    months = as_dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; 5, 6 = Saturday, Sunday
    year_weight = 0.6 + 0.06 * (years - 2013) - 0.15 * (years == 2020)
    month_weight = np.select([months == 12, months == 1], [1.6, 0.7], 1.0)
    weekday_weight = np.where(weekday >= 5, 0.15, 1.0)
    return days, year_weight * month_weight * weekday_weight


# -- one chunk ------------------------------------------------------------------------------


def _chunk(t: _Tables, seed: int, index: int, start: int, n: int) -> pl.DataFrame:
    # Each chunk has its own stream, so a chunk's rows depend only on (seed, index).
    rng = np.random.default_rng([seed, index])
    area = t.areas.draw(rng, n)
    category = t.categories.draw(rng, n)
    organization = t.organizations.draw(rng, n)
    contractor = t.contractors.draw(rng, n)

    amount = np.exp(t.category_mu[category] + AMOUNT_SIGMA * rng.standard_normal(n))
    amount = np.round(np.maximum(amount, MIN_AMOUNT), 2)
    # Winning bids come in under the approved budget (ABC); about one in seven at exactly it.
    markup = np.where(rng.random(n) < 0.15, 0.0, np.minimum(rng.exponential(0.06, n), 0.5))
    budget = np.where(markup == 0.0, amount, np.ceil(amount * (1.0 + markup) * 100.0) / 100.0)

    award_day = t.day_values[_draw(t.day_cdf, rng, n)]
    lag = 3 + np.minimum(rng.gamma(2.0, 7.0, n), 57.0).astype(np.int64)
    published_day = np.maximum(award_day - lag, t.day_values[0])
    year = award_day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) - (
        FIRST_DAY.year - 1970
    )
    mode = np.where(
        budget >= vocab.PUBLIC_BIDDING_THRESHOLD,
        _draw(t.modes_large_cdf, rng, n) + len(vocab.PROCUREMENT_MODES_SMALL),
        _draw(t.modes_small_cdf, rng, n),
    )
    subject = t.subject_offset[category] + (rng.random(n) * t.subject_count[category]).astype(
        np.int64
    )
    place = area.astype(np.int64) * len(vocab.BARANGAYS) + rng.integers(0, len(vocab.BARANGAYS), n)
    lot = np.where(rng.random(n) < 0.2, rng.integers(1, _LOTS, n), 0)
    years = LAST_DAY.year - FIRST_DAY.year + 1
    suffix = (rng.integers(0, len(vocab.OFFICES), n) * years + year) * _LOTS + lot
    funding = t.funding.draw(rng, n)
    status = t.statuses.draw(rng, n)

    rows = np.arange(start, start + n, dtype=np.int64)
    award_ref = (rows * _AWARD_REF_MULTIPLIER + _offset(seed, _AWARD_REF_MODULUS)) % (
        _AWARD_REF_MODULUS
    )
    bid_ref = (rows * _BID_REF_MULTIPLIER + _offset(seed, _BID_REF_MODULUS)) % _BID_REF_MODULUS

    raw = pl.DataFrame(
        {
            "award_ref": award_ref,
            "bid_ref": bid_ref,
            "subject": t.subjects.gather(subject),
            "place": t.places.gather(place),
            "notice_suffix": t.notice_suffixes.gather(suffix),
            "awardee_name": t.contractors.values.gather(contractor),
            "procuring_entity": t.organizations.values.gather(organization),
            "region": t.area_regions.gather(area),
            "area_of_delivery": t.areas.values.gather(area),
            "business_category": t.categories.values.gather(category),
            "classification": t.category_classification.gather(category),
            "procurement_mode": t.modes.gather(mode),
            "funding_source": t.funding.values.gather(funding),
            "approved_budget": budget,
            "contract_amount": amount,
            "published_date": published_day.astype(np.int32),
            "award_date": award_day.astype(np.int32),
            "award_status": t.statuses.values.gather(status),
        }
    )
    return raw.select(
        pl.concat_str(pl.lit("AWD-"), pl.col("award_ref").cast(pl.String).str.zfill(10)).alias(
            "award_reference_no"
        ),
        pl.col("bid_ref").cast(pl.String).str.zfill(8).alias("bid_reference_no"),
        pl.concat_str("subject", "place").alias("award_title"),
        pl.concat_str("subject", "notice_suffix").alias("notice_title"),
        "awardee_name",
        "procuring_entity",
        "region",
        "area_of_delivery",
        "business_category",
        "classification",
        "procurement_mode",
        "funding_source",
        "approved_budget",
        "contract_amount",
        pl.col("published_date").cast(pl.Date),
        pl.col("award_date").cast(pl.Date),
        "award_status",
    )


def _write(frame: pl.DataFrame, path: Path) -> None:
    # zstd measured both faster and a third smaller than lz4 and snappy on this data.
    frame.write_parquet(path, compression="zstd", statistics=True)


def _offset(seed: int, modulus: int) -> int:
    return int(np.random.default_rng([seed, 0xAF]).integers(0, modulus))
