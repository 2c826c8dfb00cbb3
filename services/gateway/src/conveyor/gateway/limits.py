"""The gateway's per-user limits: submit rate, jobs in flight and WebSocket connections.

Counters live in Redis (``LimitStore``), so every gateway replica enforces the same limits.
Admins are exempt: they run the system (replays, scheduled work, benchmarks) and are few.
A refused request is a 429 with ``Retry-After``; its message and ``X-Conveyor-Limit`` header
name the limit and its setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from dataclasses import dataclass

from redis.exceptions import RedisError

from conveyor.contracts.errors import ErrorCode
from conveyor.contracts.jobs import Priority
from conveyor.gateway.errors import GatewayError
from conveyor.runtime.limits import LimitStore, Reservation, SubmitLimits
from conveyor.runtime.limits.queue_priority import queue_priority
from conveyor.runtime.metrics import Metrics
from conveyor.runtime.settings import GatewaySettings
from conveyor.runtime.tokens import Principal

log = logging.getLogger(__name__)

LIMIT_HEADER = "X-Conveyor-Limit"
CONNECTION_LEASE_SECONDS = 60.0
"""A connection's lease; renewed every third of it, so a dead gateway's leases lapse soon."""
IN_FLIGHT_RETRY_AFTER = 5


class TooManyRequestsError(GatewayError):
    """A per-user limit refused the request; ``limit`` names it (``submit_rate``, ...)."""

    status = 429
    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, *, limit: str, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after), LIMIT_HEADER: limit})
        self.limit = limit
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Admitted:
    """A submit that passed its limits: the AMQP priority to queue it at when fair share lowers
    it (else ``None``). ``held_by``: the (job id, digest) of the request that already holds its
    Idempotency-Key; then nothing was taken or counted."""

    amqp_priority: int | None
    held_by: tuple[str, str] | None = None


class UserLimits:
    """Checks a principal against the configured limits (admins pass every check)."""

    def __init__(self, store: LimitStore, settings: GatewaySettings, metrics: Metrics) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics

    async def admit_submission(
        self,
        principal: Principal,
        job_id: str,
        priority: Priority,
        reservation: Reservation | None = None,
    ) -> Admitted:
        """Reserve the request's Idempotency-Key (``reservation``), take a submit token and
        count ``job_id`` in flight, in one Redis call; ``TooManyRequestsError`` when a limit
        refuses. Admins only reserve the key. The caller frees a reserved key when refused.
        """
        s = self.settings
        limits = (
            None
            if principal.is_admin
            else SubmitLimits(s.submit_rate, s.submit_burst, s.max_jobs_in_flight)
        )
        checked = await self.store.admit_submission(
            principal.user, job_id, limits=limits, reservation=reservation
        )
        if checked.held_by is not None:
            return Admitted(None, checked.held_by)
        if checked.wait is not None:
            self.metrics.limit_refusals.labels("submit_rate").inc()
            raise TooManyRequestsError(
                f"submit rate limit: at most {s.submit_rate:g} jobs per second per user "
                f"(bursts of {s.submit_burst}; CONVEYOR_SUBMIT_RATE, CONVEYOR_SUBMIT_BURST)",
                limit="submit_rate",
                retry_after=max(1, math.ceil(checked.wait)),
            )
        admission = checked.admission
        if not admission.admitted:
            self.metrics.limit_refusals.labels("max_jobs_in_flight").inc()
            raise TooManyRequestsError(
                f"jobs in flight limit: at most {s.max_jobs_in_flight} queued or running jobs "
                f"per user (CONVEYOR_MAX_JOBS_IN_FLIGHT); you have {admission.in_flight}",
                limit="max_jobs_in_flight",
                retry_after=IN_FLIGHT_RETRY_AFTER,
            )
        if limits is None:
            return Admitted(None)
        queued_at = queue_priority(priority, admission.in_flight, s.interactive_in_flight)
        return Admitted(None if queued_at == priority.amqp_priority else queued_at)

    async def release_submission(self, principal: Principal, job_id: str) -> None:
        """Uncount a job that was admitted but never queued."""
        if not principal.is_admin:
            await self.store.release_job(principal.user, job_id)

    async def open_connection(self, principal: Principal) -> ConnectionLease | None:
        """A renewed lease on one of the user's connections; ``None`` at the limit."""
        user, conn = principal.user, uuid.uuid4().hex
        if principal.is_admin:
            return ConnectionLease(self.store, user, conn, renew=False)
        if not await self.store.lease_connection(
            user, conn, limit=self.settings.max_websockets, lease_seconds=CONNECTION_LEASE_SECONDS
        ):
            self.metrics.limit_refusals.labels("max_websockets").inc()
            return None
        return ConnectionLease(self.store, user, conn, renew=True)

    def connection_refusal(self) -> str:
        return (
            f"too many connections: at most {self.settings.max_websockets} per user "
            "(CONVEYOR_MAX_WEBSOCKETS)"
        )


class ConnectionLease:
    """One connection's lease, renewed until ``close`` (a dead gateway's leases lapse)."""

    def __init__(self, store: LimitStore, user: str, connection: str, *, renew: bool) -> None:
        self._store = store
        self._user = user
        self._connection = connection
        self._renewal = (
            asyncio.create_task(self._renew(), name=f"ws-lease-{user}") if renew else None
        )

    async def close(self) -> None:
        if self._renewal is None:
            return
        # Not awaited: waiting for it could swallow a cancellation of our own caller.
        self._renewal.cancel()
        with contextlib.suppress(RedisError):  # else it lapses with its lease
            await self._store.release_connection(self._user, self._connection)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(CONNECTION_LEASE_SECONDS / 3)
            try:
                await self._store.lease_connection(
                    self._user, self._connection, limit=0, lease_seconds=CONNECTION_LEASE_SECONDS
                )
            except RedisError as exc:  # the lease may lapse; the next renewal restores it
                log.warning("could not renew a WebSocket lease of %s: %s", self._user, exc)
