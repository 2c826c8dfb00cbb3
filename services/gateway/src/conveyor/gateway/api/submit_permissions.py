"""Who may submit which job type, and whether a request may inject faults (test hooks).

Both decisions are declared in ``libs/contracts`` beside the job types (``submitters``,
``test_hooks_used``); this module only applies them to a request's principal and settings.
"""

from __future__ import annotations

from conveyor.contracts.jobs import JobRequest, Submitters, may_submit
from conveyor.gateway.errors import ForbiddenError
from conveyor.runtime.settings import env_name
from conveyor.runtime.tokens import Principal


def check_may_submit(principal: Principal, job_type: str, cls: type[JobRequest]) -> None:
    """403 unless ``principal`` may submit ``job_type`` (checked before the body is read)."""
    if not may_submit(cls, is_admin=principal.is_admin):
        assert cls.submitters is Submitters.ADMINS
        raise ForbiddenError(f"only admins may submit {job_type} jobs")


def check_test_hooks(request: JobRequest, *, enabled: bool) -> None:
    """403 naming the first fault-injecting field set, unless test hooks are enabled."""
    if enabled:
        return
    used = request.test_hooks_used()
    if used:
        raise ForbiddenError(
            f"{used[0]!r} is a test hook, refused unless {env_name('test_hooks')}=true",
            field=f"$.{used[0]}",
        )
