"""Loads the real PhilGEPS marginals (names and weights) shipped in ``marginals/``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import polars as pl

AREA_FILE = "agg_area.parquet"
CATEGORY_FILE = "agg_business_category.parquet"
ORGANIZATION_FILE = "agg_organization.parquet"

PLACEHOLDER_NAMES = frozenset({"sample province"})
"""Test entries left in the real data; the generator makes clean data, so it skips them."""


@dataclass(frozen=True, slots=True)
class Marginals:
    """One frame per dimension: ``entity`` (the name), ``contract_count`` (its weight) and,
    for categories, ``average_contract_value``."""

    areas: pl.DataFrame
    categories: pl.DataFrame
    organizations: pl.DataFrame


def load_marginals(directory: str | os.PathLike[str] | None = None) -> Marginals:
    """The marginals from ``directory``, or the copy packaged with this library by default."""
    return Marginals(
        areas=_clean(_read(directory, AREA_FILE), ("entity", "contract_count")),
        categories=_clean(
            _read(directory, CATEGORY_FILE),
            ("entity", "contract_count", "average_contract_value"),
        ).filter(pl.col("average_contract_value") > 0),
        organizations=_clean(_read(directory, ORGANIZATION_FILE), ("entity", "contract_count")),
    )


def _read(directory: str | os.PathLike[str] | None, name: str) -> pl.DataFrame:
    if directory is not None:
        return pl.read_parquet(Path(directory) / name)
    resource = resources.files("conveyor.awards").joinpath("marginals", name)
    with resource.open("rb") as fh:
        return pl.read_parquet(fh)


def _clean(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    # Sorted by name so draws do not depend on the files' row order.
    return (
        frame.select(columns)
        .with_columns(pl.col("entity").str.strip_chars())
        .filter(
            pl.col("entity").is_not_null()
            & (pl.col("entity") != "")
            & ~pl.col("entity").str.to_lowercase().is_in(list(PLACEHOLDER_NAMES))
            & (pl.col("contract_count") > 0)
        )
        .group_by("entity")
        .agg(pl.col("contract_count").sum(), *(pl.col(c).first() for c in columns[2:]))
        .sort("entity")
    )
