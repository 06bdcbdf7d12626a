"""Stage 5: watch the job until every task has completed, with ONE call per poll.

``get_job_task_counts`` costs the same for 10 tasks or 100,000, so the watch never lists
tasks. The interval adapts: short while counts move, stretched while nothing changes.
"""

from __future__ import annotations

import datetime as _dt
import time
from typing import Protocol

from batchflow.engine.events import Event, EventSink, WatchProgress
from batchflow.engine.polling import Pause, PollPolicy, pause
from batchflow.engine.protocols import BatchService, JobInfo, TaskCounts
from batchflow.engine.tasks import FAILED, dependents, named
from batchflow.errors import TransientError, WorkflowFailed
from batchflow.plan_model import Plan

TRANSIENT_POLLS_TOLERATED = 30


class Growing(Protocol):
    """What adds tasks while the job runs (``engine.expand.Expander``)."""

    @property
    def count(self) -> int:
        """Tasks it knows so far."""

    @property
    def finished(self) -> bool:
        """It will add nothing more."""

    def poll(self, counts: TaskCounts) -> int:
        """Add what can be added now; how many were added."""


def _deadline(plan: Plan, job: JobInfo) -> float | None:
    """Monotonic time at which the job's own timeout has passed, if it has one."""
    if not plan.job.timeout_s:
        return None
    started = job.created or _dt.datetime.now(_dt.timezone.utc)
    left = (
        started + _dt.timedelta(seconds=plan.job.timeout_s) - _dt.datetime.now(_dt.timezone.utc)
    ).total_seconds()
    return time.monotonic() + left


def done(counts: TaskCounts, total: int) -> bool:
    """Every task of the plan has completed (successfully or not)."""
    return counts.active == 0 and counts.running == 0 and counts.completed >= total


def blocked_tasks(plan: Plan, batch: BatchService, job_id: str) -> list[str]:
    """The plan's tasks that can never run: they wait, directly or not, on a task that
    failed (Batch's default dependencyAction 'block' keeps them active for ever)."""
    failed = {t.id.lower(): t.id for t in batch.list_tasks(job_id, FAILED)}
    return [i for k, i in dependents(plan, failed).items() if k not in failed]


def awaited(counts: TaskCounts, total: int, grow: Growing | None) -> int:
    """How many completions the next poll can wait for: the rest of the job's tasks, when no
    completion before the last one changes what the watch does (no failure to look into, no
    task to add), else the next one. A pause that cannot wait on completions ignores it."""
    if counts.failed or (grow is not None and not grow.finished):
        return 1
    return max(1, total - counts.completed)


def watch(
    plan: Plan,
    batch: BatchService,
    job: JobInfo,
    total: int,
    sink: EventSink,
    poll: PollPolicy,
    sleep: Pause = pause,
    grow: Growing | None = None,
) -> TaskCounts:
    """Poll task counts until the job's tasks are all completed; returns the last counts.
    With ``grow`` (dynamic steps), each poll may add tasks, and the run ends only once it
    has nothing left to add."""
    deadline = _deadline(plan, job)
    base = total
    interval, last, transient = poll.initial, None, 0
    checked: TaskCounts | None = None
    while True:
        try:
            counts = batch.task_counts(job.id)
            transient = 0
        except TransientError:
            transient += 1
            if transient > TRANSIENT_POLLS_TOLERATED:
                raise
            sleep(interval)
            continue
        if grow is not None and grow.poll(counts):
            continue  # tasks were added: these counts are already old
        if grow is not None:
            total = base + grow.count
        sink(
            WatchProgress(
                "watch",
                "running",
                counts.completed,
                total,
                succeeded=counts.succeeded,
                failed=counts.failed,
                running=counts.running,
                active=counts.active,
            )
        )
        if done(counts, total) and (grow is None or grow.finished):
            return counts
        # Nothing runs, some failed, some wait: if they all wait on failures, the job is as
        # done as it will get. One listing of the failed tasks, only when the counts moved.
        if counts.running == 0 and counts.failed and counts.active and counts != checked:
            checked = counts
            blocked = blocked_tasks(plan, batch, job.id)
            if len(blocked) >= counts.active:
                n = len(blocked)
                what = "1 task cannot" if n == 1 else f"{n} tasks cannot"
                sink(Event("watch", f"{what} run: waiting on failed tasks ({named(blocked)})"))
                return counts
        if deadline is not None and time.monotonic() > deadline:
            raise WorkflowFailed(
                "watch",
                f"job {job.id} reached its timeout of "
                f"{plan.job.timeout_s}s with {total - counts.completed} "
                "tasks unfinished",
            )
        interval = poll.next(interval, counts != last)
        last = counts
        sleep(interval, awaited(counts, total, grow))
