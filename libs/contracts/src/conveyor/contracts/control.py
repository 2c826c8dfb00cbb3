"""Commands broadcast on the ``control`` exchange to every running instance."""

from __future__ import annotations

from conveyor.contracts._base import Message


class ControlCommand(Message, tag_field="command", kw_only=True):
    """Base of every control command; each instance has its own auto-delete queue."""


class CancelJob(ControlCommand, tag="cancel_job", kw_only=True):
    """Stop the running job ``job_id`` wherever it runs (its state is already cancelled)."""

    job_id: str


class ReloadSchedules(ControlCommand, tag="reload_schedules", kw_only=True):
    """Schedule definitions changed in Redis; the leading scheduler reloads them."""


AnyControlCommand = CancelJob | ReloadSchedules
