"""Commands broadcast on the ``control`` exchange to every running instance."""

from __future__ import annotations

from conveyor.contracts._base import Message


class ControlCommand(Message, tag_field="command", kw_only=True):
    """Base of every control command; each instance has its own auto-delete queue."""


class CancelJob(ControlCommand, tag="cancel_job", kw_only=True):
    """Stop the handler of job ``job_id`` on whichever worker runs it now.

    The gateway's cancel (``POST /api/v1/jobs/{id}/cancel``) records the cancellation in Redis
    and then sends this, so a job that is still queued never starts. Sent alone, it only stops a
    job that is running at that moment; the worker then records it as cancelled.
    """

    job_id: str


class ReloadSchedules(ControlCommand, tag="reload_schedules", kw_only=True):
    """Schedule definitions changed in Redis; the leading scheduler reloads them."""


class PauseJobType(ControlCommand, tag="pause_job_type", kw_only=True):
    """Stop running jobs of ``job_type``: workers park its messages until it is resumed.

    The paused set also lives in Redis (``Keys.paused_job_types``) so a worker that starts
    later obeys it; this command tells the running ones at once.
    """

    job_type: str


class ResumeJobType(ControlCommand, tag="resume_job_type", kw_only=True):
    """Run jobs of ``job_type`` again; parked messages go back to the ``jobs`` exchange."""

    job_type: str


class DrainWorker(ControlCommand, tag="drain_worker", kw_only=True):
    """Stop taking jobs, finish the running ones (within the grace period) and exit.

    ``instance`` names one worker instance; ``None`` drains every worker.
    """

    instance: str | None = None


AnyControlCommand = CancelJob | ReloadSchedules | PauseJobType | ResumeJobType | DrainWorker
