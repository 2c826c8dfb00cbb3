"""Which Redis keys make up a job record, and the key lists the scripts take.

Of ``conveyor.contracts.keys.Keys``, these are the job store's and only it reads or writes them:
``job`` (hash: the record), ``job_events`` (stream: its history, entry ids ``0-<seq>``),
``owner_jobs`` and ``all_jobs`` (sorted sets: ids by creation time in ms), ``active_jobs``
(set: queued, running or retrying ids), ``owner_events`` (stream: every event of an owner's
jobs, time-based ids) and ``idempotency`` (string: ``<job id> <digest>``). A final transition
also removes the id from the LimitStore's ``jobs_in_flight``, atomically with the state change.
"""

from __future__ import annotations

from conveyor.contracts.keys import Keys


def creation_keys(keys: Keys, job_id: str, owner: str) -> list[str]:
    """KEYS of the scripts that may create a record (``CREATE``, ``START``)."""
    return [
        keys.job(job_id),
        keys.job_events(job_id),
        keys.owner_jobs(owner),
        keys.all_jobs,
        keys.active_jobs,
        keys.owner_events(owner),
    ]


def transition_keys(keys: Keys, job_id: str, owner: str) -> list[str]:
    """KEYS of ``TRANSITION``."""
    return [
        keys.job(job_id),
        keys.job_events(job_id),
        keys.active_jobs,
        keys.owner_events(owner),
        # A final state frees the job's in-flight slot in the same step.
        keys.jobs_in_flight(owner),
    ]


def reservation_key(keys: Keys, owner: str, key: str) -> str:
    """The key an ``Idempotency-Key`` reservation takes (value ``<job id> <digest>``): the
    gateway's submit checks (``LimitStore.admit_submission``) reserve it in their one script."""
    return keys.idempotency(owner, key)
