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
