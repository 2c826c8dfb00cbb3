"""Export and aggregates jobs beside the diagnostics load of the HA scenarios: a tiny awards
dataset the workers share, ledgers that submit a few such jobs through a gateway, and their audit.

These jobs carry no marker in their result, so their runs are counted otherwise than the
diagnostics' (``tests.support.job_ledger``): from each job's event history in Redis (one
``job.started`` per attempt, one ``job.succeeded``) and from the export worker's per-job log
line ("exported N rows to exports/<job id>.csv"). Across a Redis failover a second
``job.started`` proves nothing: a worker whose record lost the start records it again
(``runtime/worker/transitions.py``). The harness's "job was succeeded already"
line proves nothing here: a worker that retries recording its outcome across a Redis failover
logs it when its first write had landed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from conveyor.awards.generator import generate
from conveyor.awards.schema import DATASET_DIR
from conveyor.contracts.codecs import job_event_decoder
from conveyor.contracts.events import JobStarted, JobSucceeded
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from tests.support.job_ledger import FINAL, Ledger, crash_counts, final_records

EXPORT_WORKER = "conveyor.export_worker"
AGGREGATES_WORKER = "conveyor.aggregates_worker"
EXPORT_LINE = "exported "
"""The export worker's line once a job's file is written: ``exported N rows to <path> ...``."""
ROWS = 3000


def small_dataset(data_dir: Path) -> Path:
    """A few thousand generated awards under ``data_dir``; returns ``data_dir``."""
    generate(ROWS, data_dir / DATASET_DIR, seed=15, chunk_rows=1500, contractors=200)
    return data_dir


def _export_fields(marker: int) -> dict[str, object]:
    return {"format": "csv", "filters": {"value_range": {"min": 1000 * (marker % 7)}}}


def _aggregates_fields(marker: int) -> dict[str, object]:
    # A few distinct filters: some jobs compute, some are answered from the cache.
    return {"filters": {"value_range": {"min": 500 * (marker % 4)}}, "top_n": 5}


def typed_ledgers(url: str, token: str) -> list[Ledger]:
    """An export and an aggregates ledger for one user's submissions through one gateway."""
    return [
        Ledger(url, token, job_type="export", vary=_export_fields),
        Ledger(url, token, job_type="aggregates", vary=_aggregates_fields),
    ]


def export_runs(logs: Iterable[str]) -> Counter[str]:
    """Job id -> exports written, from the export workers' JSON log lines."""
    return _lines_per_job(logs, lambda msg: msg.startswith(EXPORT_LINE))


def _lines_per_job(logs: Iterable[str], matches: Callable[[str], bool]) -> Counter[str]:
    found: Counter[str] = Counter()
    for text in logs:
        for line in text.splitlines():
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("job_id") and matches(entry["msg"]):
                found[entry["job_id"]] += 1
    return found


async def audit_typed(
    store: JobStore, ledger: Ledger, logs: list[str], *, timeout: float, redis_faults: bool
) -> dict[str, object]:
    """What went wrong with one typed ledger's jobs (empty when all is well): every 202 ends
    succeeded, none ran to success twice, and no refused (503) submission became a job that
    succeeded (found by its Idempotency-Key, as a client resubmitting would find it).

    ``redis_faults``: Redis failed over, so repeated starts are not counted as runs."""
    accepted = ledger.accepted
    records = await final_records(store, accepted, timeout=timeout)
    counts = await crash_counts(store, accepted)
    exports = export_runs(logs)
    problems: dict[str, list[object]] = {
        "lost": [],
        "not succeeded": [],
        "duplicated": [],
        "unseen": [],
        "refused_but_ran": [],
    }
    for job_id, record in records.items():
        if record is None or record.state not in FINAL:
            problems["lost"].append(job_id)
            continue
        if record.state is not JobState.SUCCEEDED:
            problems["not succeeded"].append((job_id, record.error))
        events = [job_event_decoder.decode(b) for _, b in await store.events_after(job_id, 0)]
        started = sum(isinstance(e, JobStarted) for e in events)
        succeeded = sum(isinstance(e, JobSucceeded) for e in events)
        crashes = counts[job_id][0]
        runs = exports[job_id] if ledger.job_type == "export" else 0
        starts = 0 if redis_faults else started
        if succeeded > 1 or starts > crashes + 1 or runs > crashes + 1:
            problems["duplicated"].append((job_id, started, succeeded, runs))
        if ledger.job_type == "export" and record.state is JobState.SUCCEEDED and not runs:
            problems["unseen"].append(job_id)
    owners = {r.owner for r in records.values() if r is not None}
    for answer in ledger.answers:
        if answer.status == 202:
            continue
        for owner in owners:
            found = await store.redis.get(
                store.keys.idempotency(owner, ledger.idempotency_key(answer.marker))
            )
            if found is None:
                continue
            job_id = (found.decode() if isinstance(found, bytes) else found).split(" ", 1)[0]
            record = await store.get(job_id)
            if record is not None and record.state is JobState.SUCCEEDED:
                problems["refused_but_ran"].append((answer, job_id))
    return {f"{ledger.job_type} {name}": items for name, items in problems.items() if items}
