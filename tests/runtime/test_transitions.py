"""Recording an outcome mends a record that lost writes (a Redis restart without persistence,
or a failover before the writes reached the replica), so the job still ends final."""

from __future__ import annotations

from conveyor.contracts.events import JobSucceeded
from conveyor.contracts.records import JobState
from conveyor.runtime.jobstore import JobStore
from conveyor.runtime.lifecycle import JobLifecycle
from conveyor.runtime.settings import WorkerSettings
from conveyor.runtime.worker.transitions import record_transition
from tests.runtime.jobstore.support import cancelled, envelope, history, new_owner, queued


async def test_an_outcome_for_a_record_that_lost_its_start_is_recorded(
    store: JobStore, lifecycle: JobLifecycle, namespace: str
) -> None:
    env = envelope(new_owner())
    await store.create(env, queued(env), trace_id=None)  # the start never reached Redis
    succeeded = JobSucceeded(job_id=env.job_id, job_type=env.job_type, owner=env.owner)

    recorded = await record_transition(
        store, lifecycle, env, JobState.SUCCEEDED, succeeded, {},
        settings=WorkerSettings(namespace=namespace, instance="worker-a"),
    )  # fmt: skip

    assert recorded
    record = await store.get(env.job_id)
    assert record is not None and record.state is JobState.SUCCEEDED
    assert [type(e).__name__ for _, e in await history(store, env.job_id)] == [
        "JobQueued",
        "JobStarted",
        "JobSucceeded",
    ]


async def test_an_outcome_for_a_job_cancelled_meanwhile_is_not_recorded(
    store: JobStore, lifecycle: JobLifecycle, namespace: str
) -> None:
    env = envelope(new_owner())
    await store.create(env, queued(env), trace_id=None)
    await store.transition(
        env.job_id, env.owner, allowed=(JobState.QUEUED,), to=JobState.CANCELLED,
        event=cancelled(env),
    )  # fmt: skip
    succeeded = JobSucceeded(job_id=env.job_id, job_type=env.job_type, owner=env.owner)

    recorded = await record_transition(
        store, lifecycle, env, JobState.SUCCEEDED, succeeded, {},
        settings=WorkerSettings(namespace=namespace, instance="worker-a"),
    )  # fmt: skip

    assert not recorded
    record = await store.get(env.job_id)
    assert record is not None and record.state is JobState.CANCELLED
