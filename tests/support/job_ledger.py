"""What a chaos scenario promised and what happened: every answer the gateway gave, every run
of a job's handler, and the audit that compares them.

Each submitted diagnostics job adds one unique ``marker`` (``numbers=[marker]``), so its runs
are found by the sum the handler logs ("diagnostics computed sum ..."), beside the job id.
A run is counted from the worker's own log, independently of what the store recorded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import aiohttp

from conveyor.contracts.records import JobRecord, JobState
from conveyor.runtime.jobstore import JobStore

FINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
RUN_LINE = "diagnostics computed sum "
FAST_REFUSAL_SECONDS = 7.0
"""A 503 comes within the publish timeout (5 s) plus scheduling noise on a loaded machine."""


@dataclass
class Answer:
    marker: int
    status: int
    seconds: float
    job_id: str | None = None
    retry_after: str | None = None


@dataclass
class Run:
    job_id: str
    instance: str
    marker: int
    at: dt.datetime


@dataclass
class Ledger:
    """Submits marked diagnostics jobs through the gateway and keeps every answer.

    With another ``job_type`` the marker only names the submission (its Idempotency-Key) and
    ``vary`` adds fields by marker; ``tests.support.typed_jobs`` audits those jobs."""

    url: str
    token: str
    answers: list[Answer] = field(default_factory=list)
    _next_marker: int = 1
    job_type: str = "diagnostics"
    vary: Callable[[int], dict[str, object]] | None = None

    def idempotency_key(self, marker: int) -> str:
        return f"m{marker}" if self.job_type == "diagnostics" else f"{self.job_type}-{marker}"

    async def submit(self, http: aiohttp.ClientSession, **fields: object) -> Answer:
        marker, self._next_marker = self._next_marker, self._next_marker + 1
        began = time.monotonic()
        if self.job_type == "diagnostics":
            body = {"numbers": [marker], **fields}
        else:
            body = {**fields, **(self.vary(marker) if self.vary else {})}
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Idempotency-Key": self.idempotency_key(marker),
        }
        try:
            async with http.post(
                f"{self.url}/api/v1/jobs/{self.job_type}", json=body, headers=headers
            ) as response:
                payload = await response.json(content_type=None)
                answer = Answer(
                    marker,
                    response.status,
                    time.monotonic() - began,
                    payload.get("job_id") if response.status == 202 else None,
                    response.headers.get("Retry-After"),
                )
        except aiohttp.ClientError:
            answer = Answer(marker, 0, time.monotonic() - began)  # no answer at all
        self.answers.append(answer)
        return answer

    async def submit_many(
        self,
        accept: int,
        *,
        concurrency: int = 8,
        pause: float = 0.0,
        until: asyncio.Event | None = None,
        **fields: object,
    ) -> None:
        """Submit until ``accept`` jobs got a 202 (and ``until`` is set, if given), from
        ``concurrency`` clients that pause ``pause`` s between requests and, after a 503, as
        long as its ``Retry-After`` says (a refused job is not sent again: the next request
        is a new job)."""

        def more() -> bool:
            return len(self.accepted) < accept or (until is not None and not until.is_set())

        async def client(http: aiohttp.ClientSession) -> None:
            while more():
                answer = await self.submit(http, **fields)
                wait = pause
                if answer.status != 202:
                    wait = max(pause, min(float(answer.retry_after or 1), 1.0))
                await asyncio.sleep(wait)

        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            await asyncio.gather(*(client(http) for _ in range(concurrency)))
        # The clients stop together: a few may have overshot the target.

    @property
    def accepted(self) -> dict[str, int]:
        """Job id -> marker of every 202."""
        return {a.job_id: a.marker for a in self.answers if a.status == 202 and a.job_id}


def runs_in(logs: Iterable[str]) -> list[Run]:
    """The handler runs that produced a result, from the workers' JSON log lines."""
    runs = []
    for text in logs:
        for line in text.splitlines():
            if RUN_LINE not in line or not line.startswith("{"):
                continue
            entry = json.loads(line)
            total = entry["msg"][len(RUN_LINE) :].split(" ", 1)[0]
            at = dt.datetime.fromisoformat(entry["ts"])
            runs.append(Run(entry["job_id"], entry["instance"], int(float(total)), at))
    return runs


async def final_records(
    store: JobStore, job_ids: Iterable[str], timeout: float
) -> dict[str, JobRecord | None]:
    """Each job's record once all are final, or as they are when ``timeout`` runs out."""
    pending = set(job_ids)
    records: dict[str, JobRecord | None] = dict.fromkeys(pending)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending and loop.time() < deadline:
        ids = sorted(pending)
        for start in range(0, len(ids), 32):  # within the client's connection pool
            chunk = ids[start : start + 32]
            found = await asyncio.gather(*map(store.get, chunk))
            for job_id, record in zip(chunk, found, strict=True):
                records[job_id] = record
                if record is not None and record.state in FINAL:
                    pending.discard(job_id)
        if pending:
            await asyncio.sleep(0.25)
    return records


async def crash_counts(store: JobStore, job_ids: Iterable[str]) -> dict[str, tuple[int, bool]]:
    """Job id -> (worker deaths it saw, whether it was dead-lettered), from its record."""
    ids = list(job_ids)
    pipe = store.redis.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(store.keys.job(job_id), ["crashes", "dead_lettered"])
    found = await pipe.execute()
    return {
        job_id: (int(crashes or 0), bool(dead))
        for job_id, (crashes, dead) in zip(ids, found, strict=True)
    }


@dataclass
class Audit:
    """The verdict of one scenario; every list should be empty."""

    accepted: int
    succeeded: int
    failed: int
    dead: int
    lost: list[str]
    """Accepted (202) jobs without a final record."""
    duplicated: list[str]
    """Jobs with more result-producing runs than worker deaths can explain."""
    refused_but_ran: list[int]
    """Markers answered 503 whose job ran anyway (a client would have resubmitted it)."""
    bad_answers: list[Answer]
    """Any answer but a 202 or a fast 503 with ``Retry-After``."""
    unseen: list[str]
    """Succeeded jobs without a run in the logs (the count of runs would prove nothing)."""
    refused: int = 0

    def problems(self) -> dict[str, object]:
        found = {
            "lost": self.lost,
            "duplicated": self.duplicated,
            "refused_but_ran": self.refused_but_ran,
            "bad_answers": self.bad_answers,
            "unseen": self.unseen,
        }
        return {name: items for name, items in found.items() if items}


def audit(
    ledger: Ledger,
    records: dict[str, JobRecord | None],
    runs: list[Run],
    *,
    counts: dict[str, tuple[int, bool]],
    killed: set[str],
) -> Audit:
    """Compare the answers with the records and the runs.

    A run by a worker killed before it recorded the result is repeated, by design (at least
    once): a job may have one more run than the worker deaths it saw (its ``counts``), and never
    two by workers that lived.
    """
    by_job: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_job[run.job_id].append(run)
    duplicated = []
    for job_id, job_runs in by_job.items():
        survivors = sum(run.instance not in killed for run in job_runs)
        if survivors > 1 or len(job_runs) > counts.get(job_id, (0, False))[0] + 1:
            duplicated.append(job_id)
    ran_markers = Counter(run.marker for run in runs)
    refused = [a for a in ledger.answers if a.status == 503]
    states = Counter(r.state for r in records.values() if r is not None)
    return Audit(
        accepted=len(ledger.accepted),
        succeeded=states[JobState.SUCCEEDED],
        failed=states[JobState.FAILED],
        dead=sum(dead for _, dead in counts.values()),
        lost=[job_id for job_id, r in records.items() if r is None or r.state not in FINAL],
        duplicated=sorted(duplicated),
        refused_but_ran=[a.marker for a in refused if ran_markers[a.marker]],
        bad_answers=[
            a
            for a in ledger.answers
            if not (
                a.status == 202
                or (a.status == 503 and a.retry_after and a.seconds < FAST_REFUSAL_SECONDS)
            )
        ],
        unseen=[
            job_id
            for job_id, r in records.items()
            if r is not None and r.state == JobState.SUCCEEDED and not by_job[job_id]
        ],
        refused=len(refused),
    )
