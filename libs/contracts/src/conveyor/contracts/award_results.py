"""Results of aggregates and search jobs: what the result cache stores and
``GET /jobs/{id}/result`` returns (a job's record holds a ``CachedResult`` pointing at them)."""

from __future__ import annotations

import datetime as dt

from conveyor.contracts._base import Message


class AggregateSummary(Message, kw_only=True):
    """Headline numbers of the filtered awards.

    ``count`` counts awards; the money figures use the awards whose ``contract_amount`` is
    known (``total`` is 0 and ``average``/``median`` are null when there is none).
    """

    count: int
    total: float
    average: float | None = None
    median: float | None = None


class YearTotal(Message, kw_only=True):
    """Awards of one ``award_date`` year (awards without a date are in no year)."""

    year: int
    total: float
    count: int


class MonthTotal(Message, kw_only=True):
    """Awards of one ``award_date`` month, ``month`` as ``YYYY-MM``."""

    month: str
    total: float
    count: int


class GroupTotal(Message, kw_only=True):
    """One name's awards in a top-N list (order: see ``AwardFilters``, Aggregates)."""

    name: str
    total: float
    count: int


class AggregatesResult(Message, kw_only=True):
    """The dashboard's aggregate set over the filtered awards (``GET /jobs/{id}/result``).

    Top-N lists leave out awards whose name is null; years and months are ascending.
    """

    dataset_version: str
    summary: AggregateSummary
    by_year: list[YearTotal] = []
    by_month: list[MonthTotal] = []
    top_contractors: list[GroupTotal] = []
    """By ``awardee_name``."""
    top_organizations: list[GroupTotal] = []
    """By ``procuring_entity``."""
    top_areas: list[GroupTotal] = []
    """By ``area_of_delivery``."""
    top_regions: list[GroupTotal] = []
    """By ``region`` (the ``areas`` filter takes both kinds of name)."""
    top_categories: list[GroupTotal] = []
    """By ``business_category``."""


class Award(Message, kw_only=True):
    """One award of the dataset, as search results list it (null where the data has none)."""

    award_reference_no: str | None = None
    bid_reference_no: str | None = None
    award_title: str | None = None
    notice_title: str | None = None
    awardee_name: str | None = None
    procuring_entity: str | None = None
    region: str | None = None
    area_of_delivery: str | None = None
    business_category: str | None = None
    classification: str | None = None
    procurement_mode: str | None = None
    funding_source: str | None = None
    approved_budget: float | None = None
    contract_amount: float | None = None
    published_date: dt.date | None = None
    award_date: dt.date | None = None
    award_status: str | None = None


class SearchResult(Message, kw_only=True):
    """One page of a search (``GET /jobs/{id}/result``) and the total number of matches.

    Order: the request's sort keys (nulls last), then ``award_reference_no`` ascending.
    """

    dataset_version: str
    total: int
    page: int
    page_size: int
    awards: list[Award] = []
