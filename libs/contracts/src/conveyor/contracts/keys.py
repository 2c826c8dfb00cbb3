"""Every Redis key Conveyor uses, in one place, each under the namespace prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    """Redis key names of one namespace. ``Keys("conveyor").job("ab")`` -> ``conveyor:job:ab``."""

    namespace: str

    def _key(self, *parts: str) -> str:
        return ":".join((self.namespace, *parts))

    def job(self, job_id: str) -> str:
        """Hash: the job record's fields (see ``conveyor.runtime.jobstore``)."""
        return self._key("job", job_id)

    def job_events(self, job_id: str) -> str:
        """Stream: the job's capped event history, entry field ``seq`` and ``event`` (JSON)."""
        return self._key("job", job_id, "events")

    def owner_jobs(self, owner: str) -> str:
        """Sorted set: the owner's job ids scored by creation time (ms)."""
        return self._key("owner", owner, "jobs")

    def owner_events(self, owner: str) -> str:
        """Stream: every event of the owner's jobs, capped; the cursor for "all my jobs"."""
        return self._key("owner", owner, "events")

    @property
    def all_jobs(self) -> str:
        """Sorted set: every job id scored by creation time (ms); the admin listing."""
        return self._key("jobs")

    @property
    def active_jobs(self) -> str:
        """Set: ids of jobs that are queued, running or retrying."""
        return self._key("jobs", "active")

    def idempotency(self, owner: str, key: str) -> str:
        """String: ``<job id> <request digest>`` for an owner's Idempotency-Key."""
        return self._key("idempotency", owner, key)

    def result_cache(self, digest: str) -> str:
        """String: a cached job result keyed by a canonical request digest."""
        return self._key("result", digest)

    def worker(self, instance: str) -> str:
        """String with TTL: a worker's latest heartbeat (JSON)."""
        return self._key("worker", instance)

    @property
    def workers(self) -> str:
        """Sorted set: worker instances scored by their last heartbeat (unix seconds)."""
        return self._key("workers")

    @property
    def schedules(self) -> str:
        """Hash: schedule id -> schedule definition (JSON)."""
        return self._key("schedules")

    @property
    def scheduler_leader(self) -> str:
        """String with TTL: the leading scheduler instance and its fencing token."""
        return self._key("scheduler", "leader")

    @property
    def scheduler_fence(self) -> str:
        """Counter: fencing tokens handed to successive scheduler leaders."""
        return self._key("scheduler", "fence")
