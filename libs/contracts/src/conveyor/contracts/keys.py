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

    @property
    def store_epoch(self) -> str:
        """String: a random marker; gone or changed means Redis lost its data meanwhile."""
        return self._key("store", "epoch")

    def idempotency(self, owner: str, key: str) -> str:
        """String: ``<job id> <request digest>`` for an owner's Idempotency-Key."""
        return self._key("idempotency", owner, key)

    @property
    def unconfirmed_jobs(self) -> str:
        """Sorted set: ids of submitted jobs whose publish RabbitMQ never confirmed, scored by
        when to publish them again (ms); see ``conveyor.runtime.unconfirmed_jobs``."""
        return self._key("jobs", "unconfirmed")

    def unconfirmed_job(self, job_id: str) -> str:
        """String with TTL: the ``UnconfirmedJob`` (JSON) to publish again."""
        return self._key("jobs", "unconfirmed", job_id)

    # -- per-user limits (``conveyor.runtime.limits``) --

    def submit_bucket(self, user: str) -> str:
        """Hash with TTL: a user's submit token bucket (``tokens``, ``at`` in ms)."""
        return self._key("limits", user, "submits")

    def jobs_in_flight(self, owner: str) -> str:
        """Sorted set: ids of the owner's jobs a gateway admitted, scored by admission time (ms);
        the job store's final transitions remove them, reconciling removes vanished ones."""
        return self._key("limits", owner, "in-flight")

    def connections(self, user: str) -> str:
        """Sorted set: a user's open WebSocket connections scored by lease expiry (ms)."""
        return self._key("limits", user, "connections")

    def kept_exports(self, owner: str) -> str:
        """Sorted set: ``<job id>|<bytes>`` of the owner's kept exports, scored by expiry (ms)."""
        return self._key("limits", owner, "exports")

    def result_cache(self, digest: str) -> str:
        """String: a cached job result keyed by a canonical request digest."""
        return self._key("result", digest)

    def result_lock(self, digest: str) -> str:
        """String with TTL: the instance computing ``result_cache(digest)`` (single flight)."""
        return self._key("result", digest, "lock")

    @property
    def result_computations(self) -> str:
        """Hash: job kind -> results computed rather than served from the cache."""
        return self._key("result-computations")

    def worker(self, instance: str) -> str:
        """String with TTL: a worker's latest heartbeat (JSON)."""
        return self._key("worker", instance)

    @property
    def workers(self) -> str:
        """Sorted set: worker instances scored by their last heartbeat (unix seconds)."""
        return self._key("workers")

    @property
    def worker_registry(self) -> str:
        """Hash: instance -> its latest heartbeat (JSON), kept after the TTL key expires so a
        silent worker can be reported dead with its details; removed on a clean exit."""
        return self._key("workers", "registry")

    def queue_sample(self, queue: str) -> str:
        """String: ``<unix seconds> <ready messages>`` of a queue's last depth sample."""
        return self._key("queue-sample", queue)

    @property
    def paused_job_types(self) -> str:
        """Set: job types whose messages workers park instead of running (see control)."""
        return self._key("paused")

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

    @property
    def schedule_runs(self) -> str:
        """Hash: ``<name>:last`` -> ScheduleRun (JSON), ``<name>:fired`` -> latest fire time
        claimed by a leader (unix seconds; where a new leader resumes)."""
        return self._key("schedules", "runs")

    def schedule_firing(self, name: str, fire_time: str) -> str:
        """String with TTL: ``<job id> <fence>`` of the one job a schedule's firing queued."""
        return self._key("schedules", "firing", name, fire_time)

    @property
    def schedule_pending_firings(self) -> str:
        """Sorted set: ``<fire time ISO>|<name>`` claimed but not yet queued, scored by the fire
        time (unix seconds); a leader re-queues what a dead one (or a refused publish) left."""
        return self._key("schedules", "pending")

    def statistics(self, day: str) -> str:
        """String: the headline numbers (JSON) computed for one day (``YYYY-MM-DD``)."""
        return self._key("statistics", day)

    @property
    def latest_statistics(self) -> str:
        """String: the most recently computed headline numbers (JSON)."""
        return self._key("statistics", "latest")
