"""The headline numbers the daily-statistics job computes and caches (``Keys.statistics``)."""

from __future__ import annotations

import datetime as dt

from conveyor.contracts._base import Message


class DailyStatistics(Message, kw_only=True):
    """The dataset's headline numbers as of ``day`` (amounts in PHP)."""

    day: dt.date
    """Awards dated after it are left out; ``day_*`` fields describe this day alone."""
    dataset_version: str
    computed_at: dt.datetime
    awards: int
    total_contract_amount: float
    average_contract_amount: float | None
    median_contract_amount: float | None
    contractors: int
    procuring_entities: int
    first_award_date: dt.date | None
    last_award_date: dt.date | None
    day_awards: int
    day_contract_amount: float


MAX_STATISTICS_RANGE_DAYS = 31
"""The most days one ``GET /api/v1/statistics/daily?from=&to=`` may span (both ends included)."""


class DailyStatisticsRange(Message, kw_only=True):
    """The cached daily statistics of the days from ``start`` to ``end``, both included."""

    start: dt.date
    end: dt.date
    days: list[DailyStatistics]
    """Oldest first; only the days that have statistics."""
    missing: list[dt.date]
    """Days of the range with none cached (not computed, or expired)."""
