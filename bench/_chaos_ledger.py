"""The bookkeeping of ``bench.chaos``: the gateway's answers, each job's runs, the tally.

Each job carries a unique marker (``numbers=[marker]``); the diagnostics handler logs a line
per run that produced a result, so runs are counted from the workers' logs, apart from what
the store recorded. A run repeated after its worker was SIGKILLed is at-least-once delivery
working as designed; it counts as duplicated only beyond the worker deaths the job saw.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiohttp

from conveyor.contracts.records import JobRecord, JobState
from conveyor.runtime.jobstore import JobStore

FINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
RUN_LINE = "diagnostics computed sum "


@dataclass
class Answer:
    marker: int
    status: int
    seconds: float
    job_id: str | None


@dataclass
class Ledger:
    url: str
    token: str
    answers: list[Answer] = field(default_factory=list)
    _marker: int = 0

    async def submit(self, http: aiohttp.ClientSession, **fields: object) -> Answer:
        self._marker += 1
        marker = self._marker
        began = time.monotonic()
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": f"m{marker}"}
        try:
            async with http.post(
                f"{self.url}/api/v1/jobs/diagnostics",
                json={"numbers": [marker], **fields},
                headers=headers,
            ) as response:
                body = await response.json(content_type=None)
                job_id = body.get("job_id") if response.status == 202 else None
                answer = Answer(marker, response.status, time.monotonic() - began, job_id)
        except aiohttp.ClientError:
            answer = Answer(marker, 0, time.monotonic() - began, None)
        self.answers.append(answer)
        return answer

    async def submit_until(
        self, accept: int, *, clients: int, pause: float, stop: asyncio.Event | None = None,
        **fields: object,
    ) -> None:  # fmt: skip
        """Submit until ``accept`` jobs were accepted (or ``stop`` is set); a refused job is
        not sent again, and its client waits a second before the next one."""

        async def client(http: aiohttp.ClientSession) -> None:
            while len(self.accepted) < accept and not (stop and stop.is_set()):
                answer = await self.submit(http, **fields)
                await asyncio.sleep(pause if answer.status == 202 else max(pause, 1.0))

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            await asyncio.gather(*(client(http) for _ in range(clients)))

    @property
    def accepted(self) -> dict[str, int]:
        return {a.job_id: a.marker for a in self.answers if a.status == 202 and a.job_id}


@dataclass
class Run:
    job_id: str
    instance: str
    marker: int
    at: dt.datetime


def runs_in(logs: Iterable[str]) -> list[Run]:
    runs = []
    for text in logs:
        for line in text.splitlines():
            if RUN_LINE in line and line.startswith("{"):
                entry = json.loads(line)
                total = entry["msg"][len(RUN_LINE) :].split(" ", 1)[0]
                at = dt.datetime.fromisoformat(entry["ts"])
                runs.append(Run(entry["job_id"], entry["instance"], int(float(total)), at))
    return runs


async def final_records(
    store: JobStore, job_ids: Iterable[str], timeout: float
) -> dict[str, JobRecord | None]:
    pending = set(job_ids)
    records: dict[str, JobRecord | None] = dict.fromkeys(pending)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        ids = sorted(pending)
        for start in range(0, len(ids), 32):
            chunk = ids[start : start + 32]
            for job_id, record in zip(
                chunk, await asyncio.gather(*map(store.get, chunk)), strict=True
            ):
                records[job_id] = record
                if record is not None and record.state in FINAL:
                    pending.discard(job_id)
        if pending:
            await asyncio.sleep(0.5)
    return records


async def deaths(store: JobStore, job_ids: Iterable[str]) -> dict[str, tuple[int, bool]]:
    """Job id -> (worker deaths it saw, dead-lettered), from the record."""
    return await store.deaths(list(job_ids))


@dataclass
class Tally:
    scenario: str
    accepted: int
    succeeded: int
    failed: int
    dead: int
    lost: int
    duplicated: int
    recovery: float | None
    refused: int
    slowest_refusal: float | None
    """Seconds the slowest 503 took to come."""
    refused_but_ran: int
    bad_answers: int
    notes: str = ""


def tally(
    scenario: str,
    ledger: Ledger,
    records: dict[str, JobRecord | None],
    runs: list[Run],
    counts: dict[str, tuple[int, bool]],
    *,
    killed: set[str],
    recovery: float | None,
    excused_lost: set[str] = frozenset(),  # type: ignore[assignment]
) -> Tally:
    """``excused_lost``: records a Redis restart without persistence took, by design."""
    by_job: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_job[run.job_id].append(run)
    duplicated = sum(
        1
        for job_id, job_runs in by_job.items()
        if sum(r.instance not in killed for r in job_runs) > 1
        or len(job_runs) > counts.get(job_id, (0, False))[0] + 1
    )
    states = Counter(r.state for r in records.values() if r is not None)
    lost = [j for j, r in records.items() if (r is None or r.state not in FINAL)]
    ran = Counter(run.marker for run in runs)
    refused = [a for a in ledger.answers if a.status == 503]
    return Tally(
        scenario=scenario,
        accepted=len(ledger.accepted),
        succeeded=states[JobState.SUCCEEDED],
        failed=states[JobState.FAILED],
        dead=sum(d for _, d in counts.values()),
        lost=sum(j not in excused_lost for j in lost),
        duplicated=duplicated,
        recovery=recovery,
        refused=len(refused),
        slowest_refusal=max((a.seconds for a in refused), default=None),
        refused_but_ran=sum(1 for a in refused if ran[a.marker]),
        bad_answers=sum(1 for a in ledger.answers if a.status not in (202, 503)),
        notes=f"{len(set(lost) & excused_lost)} records lost with Redis' data"
        if excused_lost
        else "",
    )
