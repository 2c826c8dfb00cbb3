"""The two transport signals a handler may raise: retry later, or reject (dead-letter now)."""

from __future__ import annotations

from conveyor.contracts.errors import ErrorCode


class RetryJob(Exception):
    """Run the job again later (counts as an attempt; after the last one it fails).

    ``delay`` overrides the exponential backoff for this retry.
    """

    def __init__(self, reason: str, *, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class RejectJob(Exception):
    """The job can never succeed as sent: fail it and dead-letter its message now.

    ``code`` is the job's error code (``rejected`` unless a more precise one fits).
    """

    def __init__(self, reason: str, *, code: ErrorCode = ErrorCode.REJECTED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
