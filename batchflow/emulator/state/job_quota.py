"""The account's active jobs and job schedules quota (``Quotas.active_jobs``): a job or a job
schedule added when the account already has that many not completed is refused, 409
ActiveJobAndScheduleQuotaReached, as the service refuses it. Completed ones do not count (the
service's "completed jobs have no limit"); jobs being deleted count until they are gone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from batchflow.emulator import errors
from batchflow.emulator.state import rows
from batchflow.emulator.state.core import Core


def check(core: Core) -> None:
    """409 if the account has no room for one more job or schedule (before work that would
    be undone on refusal, such as making a job's auto pool)."""
    if rows.active_jobs_and_schedules(core.store) >= core.quotas.active_jobs:
        raise errors.active_job_and_schedule_quota_reached()


@contextmanager
def room(core: Core) -> Iterator[None]:
    """One store transaction in which the account has room for one more job or schedule: the
    insert made inside it is counted by any other add, so two adds at once cannot both take
    the last place."""
    with core.store.tx():
        check(core)
        yield
