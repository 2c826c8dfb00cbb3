"""The worker harness: every Conveyor worker runs its handlers through it."""

from conveyor.runtime.worker.context import JobContext
from conveyor.runtime.worker.handlers import Handler, HandlerTable
from conveyor.runtime.worker.signals import RejectJob, RetryJob

__all__ = ["Handler", "HandlerTable", "JobContext", "RejectJob", "RetryJob"]
