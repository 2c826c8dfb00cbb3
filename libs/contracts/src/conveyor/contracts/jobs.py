"""Job requests (one Struct per job type), results, priorities and the envelope on the wire.

A job's *type* is the tag of its request struct (``{"type": "export", ...}``); the routing key
is ``job.<type>``. Every field added later must have a default (rolling deploys).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Annotated, ClassVar, Literal

import msgspec

from conveyor.contracts._base import Message, Tagged
from conveyor.contracts.filter_semantics import FIELD_RULES, FILTERS_DESCRIPTION

# -- shared filters --------------------------------------------------------------------------

AwardColumn = Literal[
    "award_reference_no",
    "bid_reference_no",
    "award_title",
    "notice_title",
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
    "published_date",
    "award_date",
    "award_status",
]
"""The columns of the awards dataset (snake_case of the public PhilGEPS award exports)."""

AWARD_COLUMNS: tuple[str, ...] = AwardColumn.__args__  # type: ignore[attr-defined]

FilterValue = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
FilterList = Annotated[list[FilterValue], msgspec.Meta(max_length=1000)]


def _rule(field: str) -> msgspec.Meta:
    return msgspec.Meta(description=FIELD_RULES[field])


class DateRange(Message, kw_only=True):
    """An inclusive range of award dates."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("`end` must not be before `start`")


MAX_AMOUNT = 1e15
"""Far above any contract amount (PHP); bounds every amount a request may name."""
Amount = Annotated[float, msgspec.Meta(ge=0, le=MAX_AMOUNT)]


class ValueRange(Message, kw_only=True):
    """An inclusive range of contract amounts (PHP); either bound may be open."""

    min: Amount | None = None
    max: Amount | None = None

    def __post_init__(self) -> None:
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError("`max` must not be below `min`")


class AwardFilters(Message, kw_only=True):
    __doc__ = FILTERS_DESCRIPTION  # the rules live in filter_semantics (OpenAPI, docs, page)

    contractors: Annotated[FilterList, _rule("contractors")] = []
    organizations: Annotated[FilterList, _rule("organizations")] = []
    areas: Annotated[FilterList, _rule("areas")] = []
    business_categories: Annotated[FilterList, _rule("business_categories")] = []
    keywords: Annotated[FilterList, _rule("keywords")] = []
    time_ranges: Annotated[
        list[DateRange], msgspec.Meta(max_length=100, description=FIELD_RULES["time_ranges"])
    ] = []
    value_range: Annotated[ValueRange | None, _rule("value_range")] = None


class SortKey(Message, kw_only=True):
    column: AwardColumn
    descending: bool = False


# -- owners and who may submit what ---------------------------------------------------------

SCHEDULER_OWNER = "scheduler"
"""Owner of the jobs schedules start (and of "run now")."""
SYSTEM_OWNER = "system"
"""Owner of jobs that outside services publish without naming one."""
RESERVED_OWNERS = frozenset({SCHEDULER_OWNER, SYSTEM_OWNER})
"""Owners of the platform's own jobs: never a user, so never a token's subject."""


class Submitters(enum.StrEnum):
    """Who may submit a job type through the gateway (outside services publish to AMQP)."""

    USERS = "users"
    """Every authenticated user."""
    ADMINS = "admins"
    """Only tokens with the ``admin`` role."""


# -- job requests ----------------------------------------------------------------------------


class JobRequest(Tagged, kw_only=True):
    """Base of every job request; the tag is the job type."""

    submitters: ClassVar[Submitters] = Submitters.USERS
    """Who may submit this job type; declared beside each type, enforced by the gateway."""

    def test_hooks_used(self) -> tuple[str, ...]:
        """The fields set here that inject faults: refused unless test hooks are enabled."""
        return ()


MAX_SLEEP_WITHOUT_TEST_HOOKS = 10.0
"""Longer diagnostics sleeps hold a worker slot for long: test hooks only."""


class DiagnosticsRequest(JobRequest, tag="diagnostics", kw_only=True):
    """A trivial job for smoke tests and benchmarks (the old ``sample_add``).

    Adds ``numbers``; optionally sleeps ``sleep_seconds`` in ``steps`` steps reporting progress,
    fails its first ``fail_attempts`` attempts, or kills its worker process during its first
    ``crash_deliveries`` deliveries. Failing, crashing and sleeping longer than
    ``MAX_SLEEP_WITHOUT_TEST_HOOKS`` are test hooks: the gateway refuses them unless enabled.
    """

    numbers: Annotated[
        list[Annotated[float, msgspec.Meta(ge=-MAX_AMOUNT, le=MAX_AMOUNT)]],
        msgspec.Meta(max_length=100_000),
    ] = []
    sleep_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 0.0
    steps: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1
    fail_attempts: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0
    crash_deliveries: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0

    def test_hooks_used(self) -> tuple[str, ...]:
        used = []
        if self.crash_deliveries:
            used.append("crash_deliveries")
        if self.fail_attempts:
            used.append("fail_attempts")
        if self.sleep_seconds > MAX_SLEEP_WITHOUT_TEST_HOOKS:
            used.append("sleep_seconds")
        return tuple(used)


ExportFormat = Literal["xlsx", "csv", "parquet"]


class ExportRequest(JobRequest, tag="export", kw_only=True):
    """Export the filtered awards to a file the owner can download."""

    filters: AwardFilters = msgspec.field(default_factory=AwardFilters)
    format: ExportFormat = "xlsx"
    columns: Annotated[list[AwardColumn], msgspec.Meta(min_length=1)] | None = None
    """Columns to include, in this order; all columns when omitted."""
    sort: Annotated[list[SortKey], msgspec.Meta(max_length=17)] = []
    """Then ``award_reference_no``; without keys, dataset order (docs/filters.md)."""


class AggregatesRequest(JobRequest, tag="aggregates", kw_only=True):
    """Compute the dashboard's aggregate set over the filtered awards."""

    filters: AwardFilters = msgspec.field(default_factory=AwardFilters)
    top_n: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 10


class SearchRequest(JobRequest, tag="search", kw_only=True):
    """Full-table keyword search over award titles and names.

    ``query`` holds terms that must all match, read as keywords are (see ``AwardFilters``).
    """

    query: Annotated[str, msgspec.Meta(max_length=1000)] = ""
    filters: AwardFilters = msgspec.field(default_factory=AwardFilters)
    sort: Annotated[list[SortKey], msgspec.Meta(max_length=17)] = []
    page: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1
    page_size: Annotated[int, msgspec.Meta(ge=1, le=500)] = 50


class CleanupExportsRequest(JobRequest, tag="maintenance.cleanup_exports", kw_only=True):
    """Remove expired export files and their records."""

    submitters = Submitters.ADMINS


class ValidateDatasetRequest(JobRequest, tag="maintenance.validate_dataset", kw_only=True):
    """Check the parquet dataset's integrity and report problems per kind."""

    submitters = Submitters.ADMINS

    max_examples: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 10


class ComputeDailyStatisticsRequest(
    JobRequest, tag="maintenance.compute_daily_statistics", kw_only=True
):
    """Compute and cache the headline numbers (for ``day``, default yesterday)."""

    submitters = Submitters.ADMINS

    day: dt.date | None = None


class CheckSystemHealthRequest(JobRequest, tag="maintenance.check_system_health", kw_only=True):
    """Check RabbitMQ, Redis, worker heartbeats, queue backlogs and free disk."""

    submitters = Submitters.ADMINS


class PurgeExpiredJobsRequest(JobRequest, tag="maintenance.purge_expired_jobs", kw_only=True):
    """Remove job records and event history older than the retention period."""

    submitters = Submitters.ADMINS

    older_than_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


AnyJobRequest = (
    DiagnosticsRequest
    | ExportRequest
    | AggregatesRequest
    | SearchRequest
    | CleanupExportsRequest
    | ValidateDatasetRequest
    | ComputeDailyStatisticsRequest
    | CheckSystemHealthRequest
    | PurgeExpiredJobsRequest
)
"""Every job request, decoded in one pass by its ``type`` tag."""

JOB_REQUEST_TYPES: dict[str, type[JobRequest]] = {
    t.__struct_config__.tag: t for t in AnyJobRequest.__args__
}
"""Job type name -> request struct."""


def may_submit(cls: type[JobRequest], *, is_admin: bool) -> bool:
    """Whether a user (an admin or not) may submit requests of type ``cls``."""
    return cls.submitters is Submitters.USERS or is_admin


def job_type_of(request: JobRequest) -> str:
    """The job type (the tag) of a request."""
    tag = type(request).__struct_config__.tag
    assert isinstance(tag, str)
    return tag


# -- results ---------------------------------------------------------------------------------


class JobResult(Tagged, kw_only=True):
    """Base of every job result; small results travel inline, large ones by reference."""


class DiagnosticsResult(JobResult, tag="diagnostics", kw_only=True):
    sum: float
    attempt: int
    """The attempt that produced the result (1-based)."""


class FileResult(JobResult, tag="file", kw_only=True):
    """A file produced by a job (e.g. an export), downloadable by the job's owner."""

    filename: str
    """The name offered to the browser (Content-Disposition)."""
    path: str
    """Path relative to the data directory."""
    media_type: str
    size_bytes: int
    rows: int
    expires_at: dt.datetime
    truncated_cells: int = 0
    """xlsx: text cells cut at Excel's limit of 32,767 characters (UTF-16 code units)."""


class CachedResult(JobResult, tag="cached", kw_only=True):
    """A result too large for the record, stored under ``key`` in the result cache."""

    key: str
    cache_hit: bool = False


class MaintenanceReport(JobResult, tag="maintenance", kw_only=True):
    """What a maintenance job did: counts per item, and a few examples where useful."""

    counts: dict[str, int] = {}
    examples: dict[str, list[str]] = {}
    details: dict[str, str] = {}


AnyJobResult = DiagnosticsResult | FileResult | CachedResult | MaintenanceReport


# -- envelope --------------------------------------------------------------------------------


class Priority(enum.StrEnum):
    """Interactive (user-submitted) jobs run ahead of bulk and scheduled ones of a type."""

    INTERACTIVE = "interactive"
    BULK = "bulk"
    SCHEDULED = "scheduled"

    @property
    def amqp_priority(self) -> int:
        return _AMQP_PRIORITY[self]


_AMQP_PRIORITY = {Priority.INTERACTIVE: 2, Priority.BULK: 1, Priority.SCHEDULED: 0}
MAX_AMQP_PRIORITY = 2
"""The queues' ``x-max-priority``; classic queues only pay for levels they declare."""


def new_job_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class JobEnvelope(Message, kw_only=True):
    """What travels on the ``jobs`` exchange: one job attempt.

    Outside services may publish envelopes directly (routing key ``job.<type>``); the worker
    creates the job record if none exists. W3C trace context travels in the AMQP headers;
    ``trace_context`` is a fallback for publishers that cannot set headers.
    """

    request: AnyJobRequest
    job_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = msgspec.field(
        default_factory=new_job_id
    )
    owner: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = SYSTEM_OWNER
    priority: Priority = Priority.BULK
    attempt: Annotated[int, msgspec.Meta(ge=1)] = 1
    """1-based; incremented each time the job is republished for a retry."""
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    idempotency_key: str | None = None
    created_at: dt.datetime = msgspec.field(default_factory=utcnow)
    trace_context: dict[str, str] = {}

    @property
    def job_type(self) -> str:
        return job_type_of(self.request)
