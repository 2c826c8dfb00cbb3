"""``GET /api/v1/admin/stats/jobs``: counts by type and state over a window."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from conveyor.contracts.jobs import utcnow
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.monitoring import job_stats as job_stats_module
from conveyor.runtime.monitoring.job_stats import WindowError, job_stats, parse_window
from tests.monitoring.support import ADMIN, OPERATOR, get_json
from tests.support.jobs import submit_diagnostics, wait_for_state
from tests.support.services import ServiceProcess


@pytest.mark.parametrize(
    ("text", "seconds"), [("1m", 60), ("15m", 900), ("1h", 3600), ("24h", 86400), ("7d", 604800)]
)
def test_windows_parse_to_seconds(text: str, seconds: int) -> None:
    assert parse_window(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "0m", "30s", "-1h", "1w", "40d", "1.5h"])
def test_nonsense_windows_are_refused(text: str) -> None:
    with pytest.raises(WindowError):
        parse_window(text)


async def test_stats_count_jobs_by_type_and_state_in_the_window(
    ops_client: TestClient[Any, Any],
    maintenance_worker: ServiceProcess,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
) -> None:
    async def diagnostics(window: str) -> dict[str, Any]:
        stats = await get_json(ops_client, f"/api/v1/admin/stats/jobs?window={window}", OPERATOR)
        in_buckets = sum(
            n for b in stats["buckets"] for states in b["counts"].values() for n in states.values()
        )
        assert in_buckets == stats["total"] == sum(t["total"] for t in stats["by_type"])
        return stats

    def count(stats: dict[str, Any], state: str) -> int:
        # Diagnostics only: the maintenance worker's scheduler may fire its own jobs meanwhile.
        return sum(
            t["by_state"].get(state, 0) for t in stats["by_type"] if t["job_type"] == "diagnostics"
        )

    before = await diagnostics("15m")
    ok = [await submit_diagnostics(module_lifecycle, numbers=[1]) for _ in range(3)]
    bad = await submit_diagnostics(module_lifecycle, fail_attempts=1, max_attempts=1)
    for envelope in ok:
        await wait_for_state(module_store, envelope.job_id, {JobState.SUCCEEDED})
    await wait_for_state(module_store, bad.job_id, {JobState.FAILED})

    stats = await diagnostics("15m")
    assert stats["window"] == "15m" and stats["window_seconds"] == 900
    assert stats["total"] >= before["total"] + 4
    assert count(stats, "succeeded") == count(before, "succeeded") + 3
    assert count(stats, "failed") == count(before, "failed") + 1
    assert stats["truncated"] is False
    assert len(stats["buckets"]) == 12 and stats["bucket_seconds"] == 75
    # The four jobs are seconds old: they are counted in the newest bucket.
    newest = stats["buckets"][-1]["counts"]["diagnostics"]
    assert newest["succeeded"] >= 3 and newest["failed"] >= 1
    starts = [dt.datetime.fromisoformat(b["start"]) for b in stats["buckets"]]
    assert {b - a for a, b in itertools.pairwise(starts)} == {dt.timedelta(seconds=75)}
    until = dt.datetime.fromisoformat(stats["until"])
    assert until - dt.datetime.fromisoformat(stats["since"]) == dt.timedelta(minutes=15)

    default = await get_json(ops_client, "/api/v1/admin/stats/jobs", ADMIN)
    assert default["window"] == "1h" and default["total"] >= stats["total"]


async def test_a_nonsense_window_is_a_400_naming_it(ops_client: TestClient[Any, Any]) -> None:
    response = await ops_client.get("/api/v1/admin/stats/jobs?window=forever", headers=ADMIN)
    assert response.status == 400
    assert (await response.json())["error"]["field"] == "window"


async def test_stats_read_the_index_in_slices_and_say_when_they_stop_early(
    ops_client: TestClient[Any, Any],
    maintenance_worker: ServiceProcess,
    module_store: JobStore,
    module_lifecycle: JobLifecycle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for _ in range(3):
        await submit_diagnostics(module_lifecycle)
    whole = await job_stats(module_store, window="1h", now=utcnow())
    assert whole.total >= 3 and not whole.truncated

    monkeypatch.setattr(job_stats_module, "_SLICE", 2)
    sliced = await job_stats(module_store, window="1h", now=whole.until)
    assert not sliced.truncated
    # Same window end, so the same jobs (their states may have moved on meanwhile).
    assert sliced.total == whole.total
    assert [t.job_type for t in sliced.by_type] == [t.job_type for t in whole.by_type]

    monkeypatch.setattr(job_stats_module, "MAX_JOBS", 2)
    capped = await job_stats(module_store, window="1h", now=whole.until)
    assert capped.truncated and capped.total == 2
